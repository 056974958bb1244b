"""Heartbeating for activities that may run for a while.

A heartbeat tells the server the worker running the activity is alive. With a heartbeat timeout of
seconds, a worker that dies mid-call is noticed in seconds and the activity is retried elsewhere,
instead of waiting out a start-to-close timeout of minutes.

Heartbeats also carry what the next attempt must know: the server keeps the last heartbeat's
details and hands them to the retry (``activity.info().heartbeat_details``). An agent activity
carries the usage its attempts have spent so far (``carry``), so tokens paid for by an attempt
that then failed (a transport error on the repair call, a worker that died) are still billed.
Every heartbeat of the attempt sends the carried details, so a plain progress beat never wipes
them.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from typing import Any

from temporalio import activity


class _Carried:
    def __init__(self, details: Sequence[Any]) -> None:
        self.details = tuple(details)


# One holder per activity attempt (each runs in its own task and context); background heartbeat
# tasks copy the context, so they see what is carried later too.
_carried: ContextVar[_Carried | None] = ContextVar("carried_heartbeat_details", default=None)


def _details() -> tuple[Any, ...]:
    holder = _carried.get()
    return holder.details if holder else ()


def earlier_details() -> tuple[Any, ...]:
    """What earlier attempts of this activity carried (empty outside an activity, or on the
    first attempt), and carry it on: a later attempt still reports it if this one fails too."""
    if not activity.in_activity():
        return ()
    details = tuple(activity.info().heartbeat_details)
    _carried.set(_Carried(details))
    return details


def carry(*details: Any) -> None:
    """From now on every heartbeat of this attempt sends ``details``; sent at once."""
    holder = _carried.get()
    if holder is None:
        _carried.set(_Carried(details))
    else:
        holder.details = tuple(details)
    if activity.in_activity():
        activity.heartbeat(*details)


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
            activity.heartbeat(*_details())
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
        activity.heartbeat(*_details())
