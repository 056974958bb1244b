"""Which first delivery attempts a worker makes as local activities, and which it queues.

A ticket's first delivery attempt runs as a local activity on the worker that runs the ticket's
workflow (no task-queue round trip, five fewer history events), and a local activity holds one
of the worker's workflow task slots (task_queue_workers.py WORKFLOW_TASK_SLOTS, 10) while it
runs. A destination that hangs must not hold most of them: sixteen hanging local attempts
paused every other ticket on the worker for seconds. An attempt not admitted is refused at once
(DeliveryBusy) and the workflow queues the delivery, with its long retry policy.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from temporalio.exceptions import ApplicationError

from activities.delivery.config import LEDGER
from shared import names

# Local first attempts that send through a channel at once per worker, at most.
LOCAL_SEND_SLOTS: Final = 3
# After a local attempt's send failed for now (the destination down, slow or refusing), local
# attempts through that channel are skipped for this long: the deliveries go to the queue at
# once instead of each holding a workflow task slot to find the same.
LOCAL_PAUSE_SECONDS: Final = 30.0


def busy(why: str) -> ApplicationError:
    """A local first attempt not made: the workflow queues the delivery at once."""
    return ApplicationError(why, type=names.DELIVERY_BUSY_ERROR, non_retryable=True)


class LocalAttempts:
    """At most ``concurrency`` local attempts at once, LOCAL_SEND_SLOTS of them sending through
    a channel; after one's send failed for now, that channel's are skipped for a while."""

    def __init__(self, concurrency: int) -> None:
        self._all = asyncio.Semaphore(concurrency)
        self._sends = asyncio.Semaphore(min(concurrency, LOCAL_SEND_SLOTS))
        self._paused: dict[str, float] = {}  # channel -> until when (the event loop's clock)

    @contextlib.asynccontextmanager
    async def admitted(self, method: str) -> AsyncIterator[None]:
        """Run one local attempt through ``method``, or raise ``busy`` at once."""
        if method == LEDGER:  # nothing to wait for: only the overall limit
            if self._all.locked():
                raise busy("every local delivery slot of this worker is busy")
            async with self._all:
                yield
            return
        if self._paused.get(method, 0.0) > asyncio.get_running_loop().time():
            raise busy(f"a local attempt through {method} failed lately; this one is queued")
        if self._sends.locked() or self._all.locked():
            raise busy(f"every local slot of this worker sending through {method} is busy")
        async with self._all, self._sends:
            try:
                yield
            except ApplicationError as err:
                if err.type == names.DELIVERY_UNAVAILABLE_ERROR:
                    self._paused[method] = asyncio.get_running_loop().time() + LOCAL_PAUSE_SECONDS
                raise

    @property
    def sending_full(self) -> bool:
        """Every local send slot taken (for tests)."""
        return self._sends.locked()
