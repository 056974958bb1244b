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
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from typing import Any

from temporalio import activity

from shared.background import stop_background

_clock = time.monotonic  # a unit test's fake clock replaces it


class _Carried:
    def __init__(
        self, earlier: dict[str, Any], began: float = -math.inf, attempt: object = None
    ) -> None:
        # The attempt it belongs to (its ``activity.info()``, held so the identity is never
        # reused): a context that outlives an attempt (a test session's, or a task an attempt
        # started) never hands one attempt's details to another.
        self.attempt = attempt
        self.earlier = earlier  # what earlier attempts carried, as the server handed it over
        self.now = dict(earlier)  # what this attempt's heartbeats send
        # When this attempt last heartbeated, or began (``_clock``); when neither is known, the
        # first progress beat goes at once.
        self.last_beat = began
        self.began = began  # when this attempt began on this worker (``_clock``)
        # Progress came since the last heartbeat, too soon to send (``beat``); and, while
        # ``trailing_beats`` runs, the event that wakes it to send it at the period's end.
        self.unsent_progress = False
        self.progress: asyncio.Event | None = None


# One holder per activity attempt (each runs in its own task and context). The activity creates
# it before it starts any background task (``begin_attempt``): tasks copy the context, so a
# heartbeat task sees what is carried later too.
_carried: ContextVar[_Carried | None] = ContextVar("carried_heartbeat_details", default=None)


def _from_server() -> dict[str, Any]:
    """What the last heartbeat of an earlier attempt carried: one mapping of named entries."""
    if not activity.in_activity():
        return {}
    details = activity.info().heartbeat_details
    if not details or not isinstance(details[0], Mapping):
        return {}
    first = dict(details[0])
    if "provider" in first and "input_tokens" in first:
        return {"usage": first}  # a worker from before named entries carried the usage alone
    return first


def begin_attempt() -> None:
    """Start this attempt's carried details from what the earlier attempts carried, and its
    progress beats from now."""
    _carried.set(_Carried(_from_server(), began=_clock(), attempt=_this_attempt()))


def attempt_time_left(margin: float) -> tuple[float, float] | None:
    """Seconds left of this attempt's start-to-close timeout, counted from when it began on
    this worker (``begin_attempt``), less ``margin`` (at most a tenth of the timeout): for a
    failure raised in time to be reported as the attempt's own; and the timeout. None outside
    an agent activity's attempt, or without the timeout."""
    holder = _current()
    if holder is None or not math.isfinite(holder.began):
        return None
    timeout = activity.info().start_to_close_timeout
    if not timeout:
        return None
    total = timeout.total_seconds()
    return holder.began + total - min(margin, total / 10) - _clock(), total


def retries_time_left(margin: float) -> float | None:
    """Seconds left of the call's whole retry window, its schedule-to-close timeout counted from
    its first scheduling (the server's clocks), less ``margin``; None without one, or outside
    an activity. A late attempt's own start-to-close can outlast it: Temporal then ends the
    attempt with a schedule-to-close timeout, which is not retried, and what the attempt's calls
    were billed was counted nowhere (a review, 2026-12-07)."""
    holder = _current()
    if holder is None or not math.isfinite(holder.began):
        return None
    info = activity.info()
    if not info.schedule_to_close_timeout or info.scheduled_time is None:
        return None
    # Counted on the server's clock up to this attempt's start, then on this worker's: a worker
    # whose clock is minutes off would cut every late attempt at once (or never).
    at_start = info.scheduled_time + info.schedule_to_close_timeout - info.started_time
    return at_start.total_seconds() - (_clock() - holder.began) - margin


def _this_attempt() -> object:
    return activity.info() if activity.in_activity() else None


def _current() -> _Carried | None:
    """This attempt's holder, if it has one: never one another attempt left in the context."""
    holder = _carried.get()
    attempt = _this_attempt()
    if holder is None or attempt is None or holder.attempt is not attempt:
        return None
    return holder


def _holder() -> _Carried:
    holder = _current()
    if holder is None:
        holder = _Carried(_from_server(), attempt=_this_attempt())
        if holder.attempt is not None:  # outside an activity nothing is kept
            _carried.set(holder)
    return holder


def _details() -> tuple[Any, ...]:
    holder = _current()
    return (holder.now,) if holder and holder.now else ()


def earlier(name: str) -> Any:
    """What earlier attempts of this activity carried under ``name`` (None when nothing: outside
    an activity, on the first attempt, or after a worker that never carried it). It is carried on
    unchanged: a later attempt still sees it if this one fails too."""
    return _holder().earlier.get(name)


def carried(name: str) -> Any:
    """What this attempt carries under ``name``: its own word, or the earlier attempts'."""
    return _holder().now.get(name)


def carry(name: str, value: Any) -> None:
    """From now on every heartbeat of this attempt sends ``value`` under ``name``; sent at once.
    Outside an activity (a provider called on its own) there is no attempt to carry it for."""
    if not activity.in_activity():
        return
    holder = _holder()
    holder.now[name] = value
    _send()


def _send() -> None:
    if (holder := _current()) is not None:
        holder.last_beat = _clock()
        holder.unsent_progress = False
    activity.heartbeat(*_details())


# How often beat() sends when the activity has no heartbeat timeout (it still learns of a
# cancellation through heartbeats).
UNTIMED_BEAT_SECONDS = 1.0


def _beat_period() -> float:
    timeout = activity.info().heartbeat_timeout
    return max(timeout.total_seconds() / 3, 0.1) if timeout else UNTIMED_BEAT_SECONDS


@contextlib.asynccontextmanager
async def heartbeating(interval: float | None = None) -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs (a third of the heartbeat timeout apart).

    Outside an activity, or without a heartbeat timeout, it does nothing.
    """
    if not activity.in_activity() or not activity.info().heartbeat_timeout:
        yield
        return
    period = interval or _beat_period()

    async def beat() -> None:
        # Not at once: the heartbeat timeout runs from the attempt's start, so the first beat
        # is due within it, and a call that ends sooner sends none (the SDK's core reports the
        # first heartbeat of an attempt to the server at once: one request, and a write of the
        # activity's state, per call).
        while True:
            await asyncio.sleep(period)
            _send()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        await stop_background(task)


def beat() -> None:
    """Heartbeat on progress (a streamed chunk arrived). Outside an activity it does nothing.

    Heartbeating on progress, not on a timer, is what lets a stalled response be caught: when
    chunks stop, heartbeats stop, and the heartbeat timeout ends the attempt in seconds.

    At most one heartbeat per third of the heartbeat timeout is sent, the first a third after
    the attempt began: a provider streams tens to hundreds of chunks per answer, each heartbeat
    is encoded (pydantic, the codecs) and handed to the SDK's core, which reports the first to
    the server at once and then at most one per 0.8 x the timeout. A call that answers within
    the period sends none; a stream that stalls is caught within the timeout either way."""
    if not activity.in_activity():
        return
    holder = _holder()
    if _clock() - holder.last_beat >= _beat_period():
        _send()
        return
    holder.unsent_progress = True
    if holder.progress is not None:
        holder.progress.set()


@contextlib.asynccontextmanager
async def trailing_beats() -> AsyncIterator[None]:
    """While a stream is read: progress that came within a period of the last heartbeat is sent
    at that period's end when no later progress beat sent it. Without it, the last chunks before
    a silence went unreported and the heartbeat timeout ended the attempt up to a period (a third
    of the timeout: about 13 s of silence, not 20) early. When progress stops, nothing is sent.
    Outside an activity, or without a heartbeat timeout, it does nothing."""
    if not activity.in_activity() or not activity.info().heartbeat_timeout:
        yield
        return
    holder = _holder()
    progress = holder.progress = asyncio.Event()

    async def trail() -> None:
        while True:
            await progress.wait()
            progress.clear()
            wait = holder.last_beat + _beat_period() - _clock()
            if wait > 0:
                await asyncio.sleep(wait)
                # Looked at again: a chunk's own beat may have sent one while this slept (sent
                # at once here, it was a second one within milliseconds).
                progress.set()
                continue
            if holder.unsent_progress:
                _send()

    task = asyncio.create_task(trail())
    try:
        yield
    finally:
        holder.progress = None
        await stop_background(task)
