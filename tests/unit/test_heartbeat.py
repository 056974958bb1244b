"""heartbeating(): background heartbeats while an activity's body runs, nothing outside one."""

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.heartbeat import heartbeating
from tests.support.temporal import wait_until

# Generous bound on waits that should end in well under a second.
WAIT_BOUND_SECONDS = 5.0


def beats_since(before: set[asyncio.Task]) -> set[asyncio.Task]:
    """The heartbeat tasks started since ``before``: not every new task, since the session's
    event loop also runs other files' servers and workers (tests/api's in-loop worker), whose
    tasks come and go meanwhile."""
    return {t for t in asyncio.all_tasks() - before if t.get_coro().__qualname__.endswith(".beat")}


def environment(heartbeat_timeout: timedelta | None) -> tuple[ActivityEnvironment, list[tuple]]:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=heartbeat_timeout)
    heartbeats: list[tuple] = []
    env.on_heartbeat = lambda *details: heartbeats.append(details)
    return env, heartbeats


async def test_outside_an_activity_it_runs_the_body_and_starts_nothing() -> None:
    assert not activity.in_activity()
    before = asyncio.all_tasks()
    ran = False

    async with heartbeating() as value:
        started = beats_since(before)
        ran = True

    assert ran
    assert value is None
    assert started == set()


async def test_outside_an_activity_exceptions_from_the_body_propagate() -> None:
    with pytest.raises(ValueError, match="from the body"):
        async with heartbeating():
            raise ValueError("from the body")


async def test_in_an_activity_without_heartbeat_timeout_it_starts_nothing() -> None:
    env, heartbeats = environment(heartbeat_timeout=None)

    async def call() -> set[asyncio.Task]:
        before = asyncio.all_tasks()
        async with heartbeating():
            return beats_since(before)

    started = await env.run(call)

    assert started == set()
    assert heartbeats == []


async def test_heartbeats_are_sent_while_the_body_waits_and_stop_when_it_exits() -> None:
    env, heartbeats = environment(heartbeat_timeout=timedelta(milliseconds=300))
    two_heartbeats = asyncio.Event()

    def record(*details: object) -> None:
        heartbeats.append(details)
        if len(heartbeats) >= 2:
            two_heartbeats.set()

    env.on_heartbeat = record

    async def long_call() -> tuple[set[asyncio.Task], int]:
        before = asyncio.all_tasks()
        async with heartbeating():
            background = beats_since(before)
            # The body "works" until the test has seen two heartbeats.
            await asyncio.wait_for(two_heartbeats.wait(), timeout=WAIT_BOUND_SECONDS)
        return background, len(heartbeats)

    background, beats_in_block = await env.run(long_call)

    assert beats_in_block >= 2
    assert len(background) == 1
    (beat,) = background
    # The only task that could beat has ended: nothing heartbeats after the block.
    assert beat.done()
    assert beat.cancelled()


async def test_the_background_task_stops_when_the_body_raises() -> None:
    env, heartbeats = environment(heartbeat_timeout=timedelta(milliseconds=300))
    first_heartbeat = asyncio.Event()

    def record(*details: object) -> None:
        heartbeats.append(details)
        first_heartbeat.set()

    env.on_heartbeat = record
    background: set[asyncio.Task] = set()

    async def failing_call() -> None:
        before = asyncio.all_tasks()
        async with heartbeating():
            background.update(beats_since(before))
            await asyncio.wait_for(first_heartbeat.wait(), timeout=WAIT_BOUND_SECONDS)
            raise RuntimeError("the provider failed")

    with pytest.raises(RuntimeError, match="the provider failed"):
        await env.run(failing_call)

    assert heartbeats
    assert len(background) == 1
    assert all(task.done() for task in background)


class FakeClock:
    """Stands in for time.monotonic in activities.heartbeat: moves only when told to."""

    START = 1000.0

    def __init__(self) -> None:
        self.now = self.START

    def __call__(self) -> float:
        return self.now

    def beats_at(self, steps: tuple[float, ...], heartbeats: list[tuple]) -> list[int]:
        """A progress beat at each step (seconds after START): heartbeats sent after each."""
        sent = []
        for step in steps:
            self.now = self.START + step
            heartbeat.beat()
            sent.append(len(heartbeats))
        return sent


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(heartbeat, "_clock", fake)
    return fake


async def test_progress_beats_are_sent_at_most_once_per_third_of_the_timeout(
    clock: FakeClock,
) -> None:
    env, heartbeats = environment(heartbeat_timeout=timedelta(seconds=3))

    async def stream() -> list[int]:
        return clock.beats_at((0.0, 0.2, 0.5, 0.99, 1.0, 1.5, 2.0, 2.1), heartbeats)

    sent = await env.run(stream)

    # The first chunk beats at once; then one per second (a third of the 3 s timeout).
    assert sent == [1, 1, 1, 1, 2, 2, 3, 3]


async def test_without_a_heartbeat_timeout_progress_still_beats_once_a_second(
    clock: FakeClock,
) -> None:
    env, heartbeats = environment(heartbeat_timeout=None)

    async def stream() -> int:
        return clock.beats_at((0.0, 0.5, 1.0, 1.2), heartbeats)[-1]

    assert await env.run(stream) == 2


def test_outside_an_activity_a_progress_beat_does_nothing() -> None:
    assert not activity.in_activity()
    heartbeat.beat()  # would raise if it reached the SDK outside an activity


async def test_a_body_shorter_than_the_period_sends_no_heartbeat() -> None:
    env, heartbeats = environment(heartbeat_timeout=timedelta(seconds=3))

    async def quick_call() -> None:
        async with heartbeating():
            await asyncio.sleep(0)  # the background task runs, and sleeps out its first period

    await env.run(quick_call)

    # The heartbeat timeout runs from the attempt's start: nothing was due yet.
    assert heartbeats == []


async def test_after_begin_attempt_the_first_progress_beat_is_due_a_period_later(
    clock: FakeClock,
) -> None:
    env, heartbeats = environment(heartbeat_timeout=timedelta(seconds=3))

    async def stream() -> list[int]:
        heartbeat.begin_attempt()
        return clock.beats_at((0.1, 0.9, 1.0, 1.5, 2.0), heartbeats)

    assert await env.run(stream) == [0, 0, 1, 1, 2]


async def test_carrying_sends_at_once_and_restarts_the_period(clock: FakeClock) -> None:
    env, heartbeats = environment(heartbeat_timeout=timedelta(seconds=3))

    async def repair_round() -> list[int]:
        heartbeat.begin_attempt()
        clock.now = FakeClock.START + 0.5
        heartbeat.carry("usage", {"input_tokens": 300})
        # Under a period since the carry, then a period.
        return [len(heartbeats), *clock.beats_at((1.2, 1.5), heartbeats)]

    assert await env.run(repair_round) == [1, 1, 2]
    assert all(h == ({"usage": {"input_tokens": 300}},) for h in heartbeats)


def with_earlier(usage: dict | None) -> ActivityEnvironment:
    env, _ = environment(heartbeat_timeout=timedelta(seconds=3))
    details = [{"usage": usage}] if usage else []
    env.info = dataclasses.replace(env.info, attempt=2, heartbeat_details=details)
    return env


async def test_a_call_outside_an_activity_leaves_nothing_for_the_next_attempt() -> None:
    # A provider called on its own asked what was carried: the empty answer it got stayed in the
    # context (the session's tests share one) and hid the next attempt's heartbeat details, so a
    # retried call's span counted the earlier attempt's tokens too (CI, test_attempt_span).
    assert heartbeat.earlier("usage") is None

    async def retried() -> object:
        return heartbeat.earlier("usage")

    assert await with_earlier({"input_tokens": 700}).run(retried) == {"input_tokens": 700}


async def test_progress_too_soon_to_send_is_sent_at_the_end_of_its_period() -> None:
    # The last chunks before a silence went unreported: the server, silent since the heartbeat
    # before them, ended the attempt up to a period (a third of the timeout) early.
    env, heartbeats = environment(heartbeat_timeout=timedelta(seconds=0.3))

    async def stream() -> list[int]:
        async with heartbeat.trailing_beats():
            heartbeat.beat()  # the attempt's first progress: sent at once
            first = len(heartbeats)
            heartbeat.beat()  # within the period (0.1 s): held
            held = len(heartbeats)
            await wait_until(
                lambda: len(heartbeats) == 2, timeout=5, interval=0.01, what="the held beat"
            )
        return [first, held, len(heartbeats)]

    assert await env.run(stream) == [1, 1, 2]
