"""How many worker processes take a provider's calls, so that each paces its share of the rate.

The server hands out a queue's rate to all workers together, but after a quiet spell it hands
out a second's worth at once (its rate limiter's burst) on top of the rate. One worker pacing at
the rate holds that burst back; N workers each pacing at the whole rate send it on at up to N
times the rate, into the provider's 429s (`python -m bench llm_rate_limit --workers 2`: 7-9 of
~605 requests in the first seconds, where one worker drew none). Each worker therefore paces at
the rate divided by the workers the server lists as polling the provider's queue.

The list comes from DescribeTaskQueue, at most every ``REFRESH_SECONDS`` per provider and worker,
and only while calls are being made. A poller's ``last_access_time`` is when its latest poll
reached the server; the server keeps listing a worker for minutes after it stops, so a worker
counts while its latest poll is recent:
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
ago) slows this worker to a share until the next refresh that does not see it.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Final

from temporalio import activity
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.service import RPCError

log = logging.getLogger(__name__)

REFRESH_SECONDS: Final = 2.0
# Longer than an idle worker's long poll is renewed (about a minute).
IDLE_LIVE_SECONDS: Final = 75.0
# With a backlog: a worker that missed this many of its polls (one per call of its share of the
# rate) has stopped; never less than BUSY_LIVE_SECONDS.
POLLS_MISSED: Final = 4.0
BUSY_LIVE_SECONDS: Final = 3.0
# A server this slow to describe a queue: the calls go on with the last count.
COUNT_TIMEOUT_SECONDS: Final = 2.0

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
    the server; none outside an activity (a provider called directly)."""
    if not activity.in_activity():
        return []
    client = activity.client()
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=activity.info().task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    now = datetime.now(UTC)
    return [
        (
            p.identity,
            (now - p.last_access_time.ToDatetime(tzinfo=UTC)).total_seconds()
            if p.HasField("last_access_time")
            else 0.0,
        )
        for p in response.pollers
    ]


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
        self._counted_at: float | None = None
        self._warned = False
        # Made in the event loop that uses it (again if another loop does: tests run several).
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _due(self) -> bool:
        return self._counted_at is None or self._clock() - self._counted_at >= REFRESH_SECONDS

    async def refresh(self, backlog: bool, rate: float) -> None:
        """Count again if the last count is ``REFRESH_SECONDS`` old (or there is none):
        ``backlog``, whether this worker's calls wait for their turn; ``rate``, the queue's whole
        rate. A count
        that fails keeps the last one and never fails the call: the server's rate still holds,
        the count only shares out its burst. Calls arriving while a count is made wait for it
        (a few milliseconds): the burst's calls all arrive at once, and should all be paced by
        the count."""
        if not self._due():
            return
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            if self._due():
                await self._count(live_window(backlog, self.count, rate))

    async def _count(self, window: float) -> None:
        try:
            pollers = await asyncio.wait_for(self._pollers(), self._timeout)
            self.count = live_workers(pollers, window)
        except Exception as err:  # best effort: counting must never fail an agent call
            if not self._warned:  # once: a permission the worker lacks stays lacking
                self._warned = True
                reason = err.status.name if isinstance(err, RPCError) else type(err).__name__
                log.warning(
                    "could not count the workers polling a provider's queue (%s): this worker "
                    "keeps its last count (at first, as if it were the only one)",
                    reason,
                )
        finally:  # failed or not: the next try is an interval away, not the next call's
            self._counted_at = self._clock()
