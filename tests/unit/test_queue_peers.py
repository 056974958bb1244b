"""Counting the workers that share a provider's queue (activities/providers/peers.py), so each
paces its share of the queue's rate: which pollers count, how often the server is asked, and
that a count that fails never fails a call."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from activities.providers.openai_provider import OpenAIProvider
from activities.providers.pacing import CallPacer
from activities.providers.peers import (
    BUSY_LIVE_SECONDS,
    CLOCK_SKEW_SECONDS,
    IDLE_LIVE_SECONDS,
    POLLS_MISSED,
    REFRESH_SECONDS,
    Poller,
    QueuePeers,
    live_window,
    live_workers,
    poll_ages,
    queue_pollers,
)
from shared.provider_config import default_prices, default_providers

IDLE = live_window(backlog=False, workers=2, rate=10.0)
BUSY = live_window(backlog=True, workers=2, rate=10.0)


def test_a_worker_counts_once_whatever_its_pollers() -> None:
    pollers = [("1@a", 0.1), ("1@a", 3.0), ("2@b", 0.5), ("2@b", 0.2), ("3@c", 1.0)]
    assert live_workers(pollers, IDLE) == 3


def test_an_idle_worker_counts_until_its_long_poll_is_overdue() -> None:
    # An idle worker's poll reached the server up to a minute ago: alive.
    assert IDLE == IDLE_LIVE_SECONDS > 55.0
    pollers = [("1@a", 0.1), ("2@b", 55.0), ("3@c", IDLE_LIVE_SECONDS + 1)]
    assert live_workers(pollers, IDLE) == 2


def test_with_a_backlog_only_workers_that_polled_lately_count() -> None:
    # With calls waiting, a live worker with work polls whenever a call of its ends: one last
    # seen 55 s ago has stopped (the server lists it for minutes).
    assert BUSY == BUSY_LIVE_SECONDS
    pollers = [("1@a", 0.1), ("2@b", 2.0), ("3@c", 55.0)]
    assert live_workers(pollers, BUSY) == 2
    assert live_workers([("1@a", BUSY + 0.5)], BUSY) == 1


def test_at_a_slow_rate_a_worker_polls_less_often_and_counts_longer() -> None:
    # Two workers sharing 0.5 calls a second: each call of a worker's share ends 4 s apart.
    window = live_window(backlog=True, workers=2, rate=0.5)
    assert window == POLLS_MISSED * 4.0
    assert live_workers([("1@a", 0.1), ("2@b", window - 1)], window) == 2


def test_no_poller_listed_yet_is_this_worker_alone() -> None:
    assert live_workers([], IDLE) == 1
    assert live_workers([("gone@x", 600.0)], IDLE) == 1


class ClockFake:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class PollerListingFake:
    """What the server lists, and how many times it was asked."""

    def __init__(self, pollers: list[Poller]) -> None:
        self.pollers = pollers
        self.asked = 0
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def __call__(self) -> list[Poller]:
        self.asked += 1
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return list(self.pollers)


async def refreshed(peers: QueuePeers, backlog: bool = False) -> None:
    """One call's refresh, and the count it may have started in the background."""
    await peers.refresh(backlog, 10.0)
    await peers.counted()


async def test_the_server_is_asked_at_most_once_per_refresh_interval() -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    assert peers.count == 1  # not counted yet
    await refreshed(peers)
    assert (peers.count, listing.asked) == (2, 1)
    listing.pollers.append(("3@c", 0.0))
    clock.now += REFRESH_SECONDS - 0.1
    await refreshed(peers)
    assert (peers.count, listing.asked) == (2, 1)
    clock.now += 0.2
    await refreshed(peers)
    assert (peers.count, listing.asked) == (3, 2)


async def test_the_first_count_is_waited_for_by_every_call_and_made_once() -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    listing.release.clear()
    peers = QueuePeers(listing, clock)
    calls = [asyncio.create_task(peers.refresh(False, 10.0)) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)  # let every call reach its wait
    assert not any(call.done() for call in calls)  # a burst's calls wait for the count
    listing.release.set()
    await asyncio.gather(*calls)
    assert (peers.count, listing.asked) == (2, 1)


async def test_later_counts_are_made_in_the_background_while_calls_go_on() -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    await refreshed(peers)
    listing.release.clear()  # the server is slow to answer the next count
    listing.pollers.append(("3@c", 0.0))
    clock.now += REFRESH_SECONDS
    await asyncio.wait_for(peers.refresh(False, 10.0), 1.0)  # returns at once
    assert (peers.count, listing.asked) == (2, 2)  # the last count, while the next is made
    await peers.refresh(False, 10.0)  # one count at a time
    assert listing.asked == 2
    listing.release.set()
    await peers.counted()
    assert peers.count == 3


async def test_after_a_quiet_spell_the_call_waits_for_a_fresh_count() -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    await refreshed(peers)
    listing.pollers.append(("3@c", 0.0))
    clock.now += IDLE_LIVE_SECONDS  # the count is older than an idle worker's long poll
    await peers.refresh(False, 10.0)  # waited for, as the burst after a quiet spell must be
    assert peers.count == 3


async def test_a_failed_count_keeps_the_last_one_and_warns_once_per_spell(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    await refreshed(peers)
    listing.fail = RuntimeError("server gone")
    with caplog.at_level(logging.INFO, logger="activities.providers.peers"):
        for _ in range(3):
            clock.now += REFRESH_SECONDS
            await refreshed(peers)  # never raises: a call is not failed by a count
        assert (peers.count, listing.asked) == (2, 4)
        listing.fail = None
        clock.now += REFRESH_SECONDS
        await refreshed(peers)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "RuntimeError" in messages[0] and "2 workers" in messages[0]
    assert "again" in messages[1]


async def test_a_count_failing_for_longer_than_a_long_poll_falls_back_to_one_worker() -> None:
    # Counted 2 during a deploy, then the server stops answering: the peer may be long gone.
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    await refreshed(peers)
    listing.fail = RuntimeError("server gone")
    while clock.now < 100.0 + IDLE_LIVE_SECONDS - REFRESH_SECONDS:
        clock.now += REFRESH_SECONDS
        await refreshed(peers)
        assert peers.count == 2
    clock.now += REFRESH_SECONDS
    await refreshed(peers)
    assert peers.count == 1


async def test_a_failing_server_does_not_hold_the_calls_for_its_timeout() -> None:
    listing = PollerListingFake([("1@a", 0.0)])
    listing.fail = RuntimeError("server gone")  # the first count fails (as a timeout does)
    clock = ClockFake()
    peers = QueuePeers(listing, clock, timeout=60.0)
    await peers.refresh(False, 10.0)  # the first count is waited for
    assert (peers.count, listing.asked) == (1, 1)
    listing.fail = None
    listing.release.clear()  # the next count hangs
    clock.now += REFRESH_SECONDS
    # Failing: not waited for again (waiting would take the 60 s timeout; 10 s is slack).
    await asyncio.wait_for(peers.refresh(False, 10.0), 10.0)
    assert listing.asked == 2
    listing.release.set()
    await peers.counted()
    assert peers.count == 1


async def test_a_count_that_failed_before_a_quiet_spell_is_still_waited_for_after_it() -> None:
    # Counted 2, then one count failed, then nothing for an hour: the burst that comes next
    # must be paced by a fresh count, not by the two workers of an hour ago.
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    await refreshed(peers)
    listing.fail = RuntimeError("server gone")
    clock.now += REFRESH_SECONDS
    await refreshed(peers)
    assert peers.count == 2
    listing.fail = None
    listing.pollers = [(f"{n}@w", 0.0) for n in range(4)]
    clock.now += 3600.0
    await peers.refresh(False, 10.0)  # waited for: no background count to await
    assert peers.count == 4


async def test_a_cancelled_count_is_tried_again_by_the_next_call() -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 0.0)])
    listing.release.clear()
    peers = QueuePeers(listing, clock)
    first = asyncio.create_task(peers.refresh(False, 10.0))
    for _ in range(3):
        await asyncio.sleep(0)  # let it reach the server
    first.cancel()  # its activity was cancelled mid-count
    with pytest.raises(asyncio.CancelledError):
        await first
    listing.release.set()
    await peers.refresh(False, 10.0)  # no count yet: this call makes it
    assert (peers.count, listing.asked) == (2, 2)


async def test_outside_an_activity_no_pollers_are_listed() -> None:
    assert await queue_pollers() == []
    peers = QueuePeers()
    await refreshed(peers)
    assert peers.count == 1


def test_a_provider_paces_its_share_of_a_configured_rate() -> None:
    config = default_providers()["openai"].model_copy(
        update={"requests_per_minute": 600, "rate_limit_headroom": 1.0}
    )
    provider = OpenAIProvider("openai", config, "sk-test", default_prices())
    assert provider._paced_rate() == pytest.approx(10.0)
    provider._peers.count = 2
    assert provider._paced_rate() == pytest.approx(5.0)


async def test_with_a_backlog_a_worker_gone_quiet_stops_counting_at_the_next_refresh() -> None:
    clock, listing = ClockFake(), PollerListingFake([("1@a", 0.1), ("2@b", 5.0)])
    peers = QueuePeers(listing, clock)
    await refreshed(peers)
    assert peers.count == 2  # no backlog: b may be idle, renewing its long poll
    clock.now += REFRESH_SECONDS
    await refreshed(peers, backlog=True)
    assert peers.count == 1  # a backlog: a live b would have polled within 3 s


class PacerClockFake(ClockFake):
    """The clock of both the pacer and the count; ``sleep`` records a call's wait and returns at
    once, the time standing still (the test moves it)."""

    def __init__(self) -> None:
        super().__init__()
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))


async def test_a_providers_calls_are_paced_by_the_count_and_report_their_backlog() -> None:
    """The wiring in LLMProvider._sent: every call asks for a refresh (with the rate and whether
    calls wait), and the pacer spaces the calls by this worker's share."""
    config = default_providers()["openai"].model_copy(
        update={"requests_per_minute": 600, "rate_limit_headroom": 1.0}
    )
    provider = OpenAIProvider("openai", config, "sk-test", default_prices())
    clock, listing = PacerClockFake(), PollerListingFake([("1@a", 0.0), ("2@b", 2.0)])
    provider._pacer = CallPacer(clock, clock.sleep, answered=True)
    provider._peers = QueuePeers(listing, clock)
    calls: list[float] = []

    async def answered(*_: object) -> SimpleNamespace:
        calls.append(clock.now)
        return SimpleNamespace(input_tokens=10, output_tokens=5)

    provider._call = answered  # type: ignore[method-assign]
    for _ in range(30):  # a backlog: the calls a worker was handed at once
        await provider._sent(None, "gpt-4.1-mini", [])  # type: ignore[arg-type]
    assert (provider._peers.count, listing.asked) == (2, 1)
    # Two workers share 10 calls a second: after the first (the burst: a quarter second of
    # 5/s, at least one call), each call waits 0.2 s more than the one before.
    waits = clock.slept
    assert len(waits) == 29 and waits[1] - waits[0] == pytest.approx(0.2)
    assert provider._pacer.queued_seconds() > REFRESH_SECONDS + 1  # 30 calls of 0.2 s: ~6 s
    # Past the refresh interval, the calls still wait: the next count uses the backlog's
    # window (3 s), and b, last seen 5 s ago, no longer counts.
    listing.pollers = [("1@a", 0.0), ("2@b", 5.0)]
    clock.now += REFRESH_SECONDS
    await provider._sent(None, "gpt-4.1-mini", [])  # type: ignore[arg-type]
    await provider._peers.counted()
    assert (provider._peers.count, listing.asked) == (1, 2)


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def test_poll_ages_are_on_the_servers_clock() -> None:
    # This worker's clock runs 20 s ahead of the server's: the newest poll, just made, looks
    # 20 s old here; a peer that polled 2 s before it is 2 s old, not 22.
    ages = dict(poll_ages([("1@a", ago(20)), ("2@b", ago(22))], NOW))
    assert ages == {"1@a": 0.0, "2@b": 2.0}


def test_an_old_newest_poll_does_not_make_a_stopped_worker_young() -> None:
    # Every listed poll is old (this worker's slots full, or a partition it does not poll):
    # a worker that stopped two minutes ago is at least 90 s old, past a 75 s window.
    ages = dict(poll_ages([("1@a", ago(100)), ("gone@b", ago(120))], NOW))
    assert ages["gone@b"] == 120 - CLOCK_SKEW_SECONDS
    assert live_workers(ages.items(), IDLE_LIVE_SECONDS) == 1


def test_a_poller_without_a_time_counts_as_new() -> None:
    assert poll_ages([("1@a", None)], NOW) == [("1@a", 0.0)]
    assert dict(poll_ages([("1@a", None), ("2@b", ago(5))], NOW))["1@a"] == 0.0
