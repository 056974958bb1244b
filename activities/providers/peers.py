"""How many worker processes take a provider's calls, so that each paces its share of the rate.

The server hands out a queue's rate to all workers together, but after a quiet spell it hands
out a second's worth at once (its rate limiter's burst) on top of the rate. One worker pacing at
the rate holds that burst back; N workers each pacing at the whole rate send it on at up to N
times the rate, into the provider's 429s (`python -m bench llm_rate_limit --workers 2`: 7-9 of
~605 requests in the first seconds, where one worker drew none). Each worker therefore paces at
the rate divided by the workers the server lists as polling the provider's queue.

The list comes from DescribeTaskQueue, at most every ``REFRESH_SECONDS`` per provider and worker,
and only while calls are being made: waited for when there is no count to go by (the first
call, or after a quiet spell), made in the background otherwise. A poller's
``last_access_time`` is when its latest poll reached the server; the server keeps listing a
worker for minutes after it stops, so a worker counts while its latest poll is recent:
- an idle worker renews its long poll about once a minute (every ~55 s on the dev server,
  measured), so while this worker's calls go out as they come, a worker polled within
  ``IDLE_LIVE_SECONDS`` counts;
- while this worker's calls wait for their turn (a backlog), a worker that is alive and has
  work polls whenever one of its calls ends, about every workers / rate seconds: only one
  polled within ``POLLS_MISSED`` such intervals (at least ``BUSY_LIVE_SECONDS``) counts, so a
  stopped worker stops costing its share a few seconds after this worker needs it
  (`python -m bench llm_rate_limit --workers 2 --stop-one-after 20` shows the seconds).
Counting too few is the behaviour without a count (each worker paces at the whole rate, the
server's rate still holds after the burst); counting too many (a worker that stopped a moment
ago) slows this worker to a share until the next refresh that does not see it. A count that
fails keeps the last one for as long as it could still be true (``IDLE_LIVE_SECONDS``), then
falls back to one worker; it never fails a call. docs/rate-control.md, "Several workers".
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Final

from temporalio import activity
from temporalio.service import RPCError

from shared.queue_pollers import describe_queue, routed_to

log = logging.getLogger(__name__)

REFRESH_SECONDS: Final = 2.0
# Longer than an idle worker's long poll is renewed (about a minute).
IDLE_LIVE_SECONDS: Final = 75.0
# With a backlog: a worker that missed this many of its polls (one per call of its share of the
# rate) has stopped; never less than BUSY_LIVE_SECONDS.
POLLS_MISSED: Final = 4.0
BUSY_LIVE_SECONDS: Final = 3.0
# How far this worker's clock may be off the server's: a poll older than a window by more than
# this, on this worker's clock, is out of it whatever the newest poll listed.
CLOCK_SKEW_SECONDS: Final = 30.0
# A server this slow to describe a queue: the calls go on with the last count.
COUNT_TIMEOUT_SECONDS: Final = 1.0

# A poller: the worker's identity and how long ago its latest poll reached the server (seconds).
Poller = tuple[str, float]


def live_window(backlog: bool, workers: int, rate: float) -> float:
    """How recent a worker's latest poll must be for it to count (seconds): ``workers`` as last
    counted, ``rate`` the queue's whole rate (calls a second)."""
    if not backlog:
        return IDLE_LIVE_SECONDS
    return max(BUSY_LIVE_SECONDS, POLLS_MISSED * workers / rate) if rate > 0 else IDLE_LIVE_SECONDS


def live_workers(pollers: Iterable[Poller], window: float) -> int:
    """The worker processes (distinct identities; each runs several pollers) that polled within
    ``window`` seconds; at least one (this worker, which may not be listed yet)."""
    return max(1, len({identity for identity, age in pollers if age <= window}))


async def queue_pollers() -> list[Poller]:
    """The pollers of the running activity's task queue (the provider's queue), as listed by
    the server; none outside an activity (a provider called directly) or in a local one (its
    queue is the workflow's). Each poller's age is measured from the newest poll in the same
    answer, on the server's clock: a worker whose clock is a few seconds off the server's would
    otherwise misjudge a 3 s window."""
    if not activity.in_activity() or activity.info().is_local:
        return []
    response = await describe_queue(activity.client(), activity.info().task_queue, True)
    stamps = [
        (
            p.identity,
            p.last_access_time.ToDatetime(tzinfo=UTC) if p.HasField("last_access_time") else None,
        )
        for p in response.pollers
        # Not another build's idle workers (a new one not yet current, an old one kept for a
        # rollback): they take none of the queue's rate (shared/queue_pollers.py).
        if routed_to(p, response.versioning_info)
    ]
    return poll_ages(stamps, datetime.now(UTC))


def poll_ages(stamps: list[tuple[str, datetime | None]], now: datetime) -> list[Poller]:
    """Each poller's age on the server's clock (from the newest poll listed), and no less than
    its age on this worker's clock (``now``) less ``CLOCK_SKEW_SECONDS``: when the newest poll
    listed is itself old (every worker's slots full, or a partition this worker does not poll),
    a stopped worker's poll is not made young by it. A poller with no time counts as new."""
    known = [at for _, at in stamps if at is not None]
    if not known:
        return [(identity, 0.0) for identity, _ in stamps]
    newest = max(known)

    def age(at: datetime) -> float:
        relative = (newest - at).total_seconds()
        return max(relative, (now - at).total_seconds() - CLOCK_SKEW_SECONDS)

    return [(identity, age(at) if at is not None else 0.0) for identity, at in stamps]


class QueuePeers:
    """The workers sharing this provider's queue, as last counted (1 until counted)."""

    def __init__(
        self,
        pollers: Callable[[], Awaitable[list[Poller]]] = queue_pollers,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = COUNT_TIMEOUT_SECONDS,
    ) -> None:
        self._pollers, self._clock, self._timeout = pollers, clock, timeout
        self.count = 1
        self._counted_at: float | None = None  # the last count that succeeded
        self._tried_at: float | None = None  # the last count that ended, either way
        self._failing = False
        # Made in the event loop that uses them (again if another loop does: tests run several).
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def _due(self) -> bool:
        return self._tried_at is None or self._clock() - self._tried_at >= REFRESH_SECONDS

    def _stale(self, at: float | None) -> bool:
        """Never, or longer ago than an idle worker's long poll: a count that old may describe
        workers long gone."""
        return at is None or self._clock() - at >= IDLE_LIVE_SECONDS

    def _untrusted(self) -> bool:
        """No count to go by: none yet, or the last one is older than an idle worker's long
        poll (after a quiet spell, when the server's burst comes), unless counting has been
        failing lately (a failing server must not hold every call for its timeout; a failure
        before the quiet spell must not spare the burst its count)."""
        if self._failing and not self._stale(self._tried_at):
            return False
        return self._stale(self._counted_at)

    async def refresh(self, backlog: bool, rate: float) -> None:
        """Count again if the last try is ``REFRESH_SECONDS`` old: ``backlog``, whether this
        worker's calls wait for their turn; ``rate``, the queue's whole rate. With no count to
        go by, the call waits for the count (one request to the server; the calls arriving
        meanwhile wait for the same one): the burst after a quiet spell must be paced by it.
        Otherwise the count is made in the background and the call goes on with the last one.
        A count never fails a call."""
        if not self._due():
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._lock, self._task, self._loop = asyncio.Lock(), None, loop
        window = live_window(backlog, self.count, rate)
        if self._untrusted():
            assert self._lock is not None
            async with self._lock:
                if self._due():
                    await self._count(window)
        elif self._task is None or self._task.done():
            self._task = asyncio.create_task(self._count(window))

    async def counted(self) -> None:
        """Until a count made in the background has ended (for tests)."""
        if self._task is not None:
            await self._task

    async def _count(self, window: float) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                pollers = await self._pollers()
        except Exception as err:  # best effort: counting must never fail an agent call
            self._tried_at = self._clock()
            self._failed(err)
            return
        # Set only when the count ended: a cancelled count is tried again by the next call.
        self._tried_at = self._counted_at = self._clock()
        self.count = live_workers(pollers, window)
        if self._failing:
            self._failing = False
            log.info("counting the workers polling a provider's queue again: %d", self.count)

    def _failed(self, err: Exception) -> None:
        # A count too old to describe today's workers (one taken during a deploy, say) would
        # keep this worker at a fraction of the rate for as long as counting fails.
        if self._stale(self._counted_at):
            self.count = 1
        if not self._failing:  # once per spell of failures
            self._failing = True
            reason = err.status.name if isinstance(err, RPCError) else type(err).__name__
            log.warning(
                "could not count the workers polling a provider's queue (%s): this worker "
                "paces as if %s",
                reason,
                "it were the only one" if self.count == 1 else f"{self.count} workers shared it",
            )
