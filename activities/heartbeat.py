"""Heartbeating for activities that may run for a while.

A heartbeat tells the server the worker running the activity is alive. With a heartbeat timeout of
seconds, a worker that dies mid-call is noticed in seconds and the activity is retried elsewhere,
instead of waiting out a start-to-close timeout of minutes.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity


@contextlib.asynccontextmanager
async def heartbeating(interval: float | None = None) -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs (a third of the heartbeat timeout apart).

    Outside an activity, or without a heartbeat timeout, it does nothing.
    """
    if not activity.in_activity() or not (timeout := activity.info().heartbeat_timeout):
        yield
        return
    period = interval or max(timeout.total_seconds() / 3, 0.1)

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(period)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def beat() -> None:
    """Heartbeat on progress (a streamed chunk arrived). Outside an activity it does nothing.

    Heartbeating on progress, not on a timer, is what lets a stalled response be caught: when
    chunks stop, heartbeats stop, and the heartbeat timeout ends the attempt in seconds."""
    if activity.in_activity():
        activity.heartbeat()
