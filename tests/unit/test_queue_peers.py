"""Counting the workers that share a provider's queue (activities/providers/peers.py), so each
paces its share of the queue's rate: which pollers count, how often the server is asked, and
that a count that fails never fails a call."""

import asyncio
import logging

import pytest

from activities.providers.openai_provider import OpenAIProvider
from activities.providers.peers import (
    BUSY_LIVE_SECONDS,
    IDLE_LIVE_SECONDS,
    POLLS_MISSED,
    REFRESH_SECONDS,
    Poller,
    QueuePeers,
    live_window,
    live_workers,
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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Listing:
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


async def test_the_server_is_asked_at_most_once_per_refresh_interval() -> None:
    clock, listing = Clock(), Listing([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    assert peers.count == 1  # not counted yet
    await peers.refresh(False, 10.0)
    assert (peers.count, listing.asked) == (2, 1)
    listing.pollers.append(("3@c", 0.0))
    clock.now += REFRESH_SECONDS - 0.1
    await peers.refresh(False, 10.0)
    assert (peers.count, listing.asked) == (2, 1)
    clock.now += 0.2
    await peers.refresh(False, 10.0)
    assert (peers.count, listing.asked) == (3, 2)


async def test_calls_arriving_during_a_count_wait_for_it_and_ask_once() -> None:
    clock, listing = Clock(), Listing([("1@a", 0.0), ("2@b", 0.0)])
    listing.release.clear()
    peers = QueuePeers(listing, clock)
    calls = [asyncio.create_task(peers.refresh(False, 10.0)) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(call.done() for call in calls)  # a burst's calls wait for the count
    listing.release.set()
    await asyncio.gather(*calls)
    assert (peers.count, listing.asked) == (2, 1)


async def test_a_failed_count_keeps_the_last_one_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, listing = Clock(), Listing([("1@a", 0.0), ("2@b", 0.0)])
    peers = QueuePeers(listing, clock)
    await peers.refresh(False, 10.0)
    listing.fail = RuntimeError("server gone")
    with caplog.at_level(logging.WARNING, logger="activities.providers.peers"):
        for _ in range(3):
            clock.now += REFRESH_SECONDS
            await peers.refresh(False, 10.0)  # never raises: a call is not failed by a count
    assert (peers.count, listing.asked) == (2, 4)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "RuntimeError" in warnings[0]


async def test_a_server_too_slow_to_answer_leaves_the_count_as_it_was() -> None:
    listing = Listing([("1@a", 0.0), ("2@b", 0.0)])
    listing.release.clear()  # never answers
    peers = QueuePeers(listing, Clock(), timeout=0.05)
    await peers.refresh(False, 10.0)
    assert peers.count == 1


async def test_outside_an_activity_no_pollers_are_listed() -> None:
    assert await queue_pollers() == []
    peers = QueuePeers()
    await peers.refresh(False, 10.0)
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
    clock, listing = Clock(), Listing([("1@a", 0.1), ("2@b", 5.0)])
    peers = QueuePeers(listing, clock)
    await peers.refresh(False, 10.0)
    assert peers.count == 2  # no backlog: b may be idle, renewing its long poll
    clock.now += REFRESH_SECONDS
    await peers.refresh(True, 10.0)
    assert peers.count == 1  # a backlog: a live b would have polled within 3 s
