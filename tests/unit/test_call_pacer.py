"""The worker's own pacing of a provider's calls before the queue's rate holds
(activities/providers/pacing.py): one probe until the provider has answered, then no faster
than the declared rate."""

import asyncio

import pytest

from activities.providers import pacing
from activities.providers.pacing import CallPacer


async def test_one_call_probes_and_the_others_wait_for_its_answer() -> None:
    pacer = CallPacer()
    assert await pacer.turn(None) is True  # the probe
    waiting = [asyncio.create_task(pacer.turn(None)) for _ in range(3)]
    await asyncio.sleep(0)  # let them reach the wait
    await asyncio.sleep(0)
    assert not any(t.done() for t in waiting)
    await pacer.answered()
    assert await asyncio.gather(*waiting) == [False, False, False]  # none of them probes
    await pacer.ended()
    assert await pacer.turn(None) is False  # answered once: no more probes


async def test_a_probe_that_got_no_answer_hands_the_probe_to_the_next_call() -> None:
    pacer = CallPacer()
    assert await pacer.turn(None) is True
    second = asyncio.create_task(pacer.turn(None))
    third = asyncio.create_task(pacer.turn(None))
    await asyncio.sleep(0)
    assert not second.done()
    await pacer.ended()  # a connection error: no headers came back
    done, pending = await asyncio.wait({second, third}, timeout=1)
    assert [t.result() for t in done] == [True]  # exactly one of them probes next
    assert len(pending) == 1
    await pacer.answered()
    assert await pending.pop() is False


class Clock:
    """A fake clock for the pacer: ``sleep`` advances it and records how long."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(pacing.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(pacing.asyncio, "sleep", fake.sleep)
    return fake


async def test_after_the_answer_calls_go_at_the_declared_rate_after_a_seconds_burst(
    clock: Clock,
) -> None:
    pacer = CallPacer()
    await pacer.answered()
    for _ in range(10):  # 10 a second: a burst of ten goes at once
        assert await pacer.turn(10.0) is False
    assert clock.slept == []
    for _ in range(3):  # then one every 0.1 s, each call waiting for its own slot
        await pacer.turn(10.0)
    assert clock.slept == pytest.approx([0.1, 0.2, 0.3])
    clock.now += 60  # an idle minute refills the burst, no more
    clock.slept.clear()
    for _ in range(11):
        await pacer.turn(10.0)
    assert clock.slept == pytest.approx([0.1])


async def test_no_declared_rate_means_no_pacing(clock: Clock) -> None:
    pacer = CallPacer()
    await pacer.answered()
    for _ in range(100):
        await pacer.turn(None)
    assert clock.slept == []
