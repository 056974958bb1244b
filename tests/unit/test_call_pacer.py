"""The worker's own pacing of a provider's calls before the queue's rate holds
(activities/providers/pacing.py): one probe until the provider has answered, then no faster
than the declared rate."""

import asyncio
from collections.abc import Callable

import pytest

from activities.providers.pacing import BURST_SECONDS, CallPacer

BURST = int(20 * BURST_SECONDS)  # calls at once at 20 a second


def no_rate() -> None:
    return None


class ClockFake:
    """A fake clock for the pacer: ``sleep`` records how long a call waited."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


async def settle() -> None:
    for _ in range(5):  # let the waiting tasks reach their wait
        await asyncio.sleep(0)


async def test_one_call_probes_and_the_others_wait_until_it_ended_answered() -> None:
    pacer = CallPacer()
    assert await pacer.turn(no_rate) is True  # the probe
    waiting = [asyncio.create_task(pacer.turn(no_rate)) for _ in range(3)]
    await settle()
    pacer.answer_seen()  # its headers: the waiting calls still wait for its tokens
    await settle()
    assert not any(t.done() for t in waiting)
    await pacer.ended()
    assert await asyncio.gather(*waiting) == [False, False, False]  # none of them probes
    assert await pacer.turn(no_rate) is False  # answered once: no more probes


async def test_a_probe_that_got_no_answer_hands_the_probe_to_the_next_call() -> None:
    pacer = CallPacer()
    assert await pacer.turn(no_rate) is True
    second = asyncio.create_task(pacer.turn(no_rate))
    third = asyncio.create_task(pacer.turn(no_rate))
    await settle()
    assert not second.done()
    await pacer.ended()  # a connection error: no headers came back
    done, pending = await asyncio.wait({second, third}, return_when=asyncio.FIRST_COMPLETED)
    assert [t.result() for t in done] == [True]  # exactly one of them probes next
    assert len(pending) == 1
    pacer.answer_seen()
    await pacer.ended()
    assert await pending.pop() is False


async def test_the_calls_released_by_the_probe_are_paced_by_what_it_declared() -> None:
    clock = ClockFake()
    pacer = CallPacer(clock.monotonic, clock.sleep)
    declared: list[float] = []  # nothing declared until the probe's answer

    def rate() -> float | None:
        return declared[-1] if declared else None

    assert await pacer.turn(rate) is True
    waiting = [asyncio.create_task(pacer.turn(rate)) for _ in range(4)]
    await settle()
    declared.append(8.0)  # the probe's answer declared 8 a second
    pacer.answer_seen()
    await pacer.ended()
    await asyncio.gather(*waiting)
    # A burst of two (a quarter second's worth), then one every eighth of a second.
    assert sorted(clock.slept) == [0.125, 0.25]


async def test_after_the_answer_calls_go_at_the_declared_rate_after_a_short_burst() -> None:
    clock = ClockFake()
    pacer = CallPacer(clock.monotonic, clock.sleep)
    assert await pacer.turn(lambda: 20.0) is True
    pacer.answer_seen()
    await pacer.ended()
    for _ in range(BURST):  # 20 a second: a quarter second's burst goes at once
        assert await pacer.turn(lambda: 20.0) is False
    assert clock.slept == []
    for _ in range(3):  # then one every 0.05 s, each call waiting for its own slot
        await pacer.turn(lambda: 20.0)
    assert clock.slept == [0.05, 0.1, 0.15]
    clock.now += 60  # an idle minute refills the burst, no more
    clock.slept.clear()
    for _ in range(BURST + 1):
        await pacer.turn(lambda: 20.0)
    assert clock.slept == [0.05]


async def test_a_configured_rate_has_no_probe_and_the_same_pacing() -> None:
    clock = ClockFake()
    pacer = CallPacer(clock.monotonic, clock.sleep, answered=True)
    for _ in range(BURST + 2):
        assert await pacer.turn(lambda: 20.0) is False  # never a probe
    assert clock.slept == [0.05, 0.1]


async def test_no_declared_rate_means_no_pacing() -> None:
    clock = ClockFake()
    pacer = CallPacer(clock.monotonic, clock.sleep)
    assert await pacer.turn(no_rate) is True
    pacer.answer_seen()
    await pacer.ended()
    for _ in range(100):
        await pacer.turn(no_rate)
    assert clock.slept == []


def test_a_pacer_serves_one_event_loop_after_another() -> None:
    """The worker runs one loop; tests run several, and a provider outlives each."""
    pacer = CallPacer()

    async def probe_without_answer() -> None:
        assert await pacer.turn(no_rate) is True
        waiter = asyncio.create_task(pacer.turn(no_rate))
        await settle()
        await pacer.ended()
        assert await waiter is True  # the next probe, in this loop
        await pacer.ended()

    asyncio.run(probe_without_answer())
    asyncio.run(probe_without_answer())


async def test_a_call_waits_for_a_silent_probe_only_so_long_then_goes() -> None:
    """A provider that does not answer at all (an outage as the worker starts): the calls do
    not line up behind one probe's timeout after another."""
    pacer = CallPacer(probe_wait=0.05)
    assert await pacer.turn(no_rate) is True  # the probe, never answered
    assert await asyncio.wait_for(pacer.turn(no_rate), timeout=5) is False  # went anyway
    await pacer.ended()
    assert await pacer.turn(no_rate) is True  # no answer yet: the next call probes again


async def test_the_pacer_tells_how_far_ahead_its_next_free_slot_is() -> None:
    clock = ClockFake()
    pacer = CallPacer(clock.monotonic, clock.sleep, answered=True)
    assert pacer.queued_seconds() == 0.0
    for _ in range(BURST + 10):  # the burst goes at once; ten more are a half second's wait
        await pacer.turn(lambda: 20.0)
    assert abs(pacer.queued_seconds() - 11 / 20) < 1e-6
    clock.now += 1.0
    assert pacer.queued_seconds() == 0.0


class TickingClockFake(ClockFake):
    """Sleeping moves the fake clock on, as time would; ``then`` runs after the first sleep."""

    def __init__(self, then: Callable[[], None]) -> None:
        super().__init__()
        self.then = then

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        self.now += seconds
        if len(self.slept) == 1:
            self.then()


@pytest.mark.parametrize(
    ("before", "after", "slept"),
    [
        (4.0, 8.0, [0.25, 0.125, 0.125, 0.125]),  # a peer stopped: the share doubles
        (8.0, 4.0, [0.125, 0.25, 0.25]),  # a peer joined: it halves (8 a second: burst of 2)
    ],
)
async def test_calls_already_waiting_go_at_the_rate_in_force_when_their_turn_comes(
    before: float, after: float, slept: list[float]
) -> None:
    rates = [before]
    clock = TickingClockFake(lambda: rates.append(after))  # the share changes during the first wait
    pacer = CallPacer(clock.monotonic, clock.sleep, answered=True)
    await asyncio.gather(*(pacer.turn(lambda: rates[-1]) for _ in range(5)))
    assert clock.slept == slept


class HeldClockFake(ClockFake):
    """The first sleep lasts until it is cancelled."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if len(self.slept) == 1:
            await asyncio.Event().wait()


async def test_a_call_cancelled_in_its_wait_leaves_its_slot_to_the_next() -> None:
    clock = HeldClockFake()
    pacer = CallPacer(clock.monotonic, clock.sleep, answered=True)
    assert await pacer.turn(lambda: 4.0) is False  # went at once (4 a second: no burst)
    second = asyncio.create_task(pacer.turn(lambda: 4.0))  # its slot a quarter second on
    await settle()
    third = asyncio.create_task(pacer.turn(lambda: 4.0))  # waits for its turn
    await settle()
    assert pacer.queued_seconds() == 0.75  # the next free slot: after the third's
    second.cancel()
    await third
    assert clock.slept == [0.25, 0.25]  # the third took the second's slot
    assert second.cancelled()
    assert pacer.queued_seconds() == 0.5
