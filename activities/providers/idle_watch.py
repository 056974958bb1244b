"""An answer's stream that stops sending ends within the provider's timeout, whatever the HTTP
transport does.

httpx2's read timeout bounds the wait for each read. The aiohttp transport's (its ``sock_read``)
did not end one case: a malformed chunk in the middle of an answer makes aiohttp's C parser drop
its read timer and close the socket without failing the body, so the read waited for ever (only
the activity's heartbeat timeout ended the attempt, recorded as Temporal's timeout instead of
the provider's). ``IdleWatch`` ends such a read after ``seconds`` without a chunk, as a read
timeout.

It costs one clock read per chunk: the timer is re-armed only when it fires early, not at every
chunk (re-arming ``asyncio.timeout`` per chunk costs ~2.4 us, 0.7 ms for a 300-token answer).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import httpx2


class AnswerOutOfTime(httpx2.ReadTimeout):
    """The answer was still arriving when its attempt's time was nearly spent: a steady stream
    longer than the activity's start-to-close timeout (a slow local model's long draft) was
    cancelled by Temporal, which reports no provider error, so the tokens it was billed were
    counted nowhere and each retry was cut the same way. Raised before that, the provider
    classifies it as its timeout and the partial answer is billed (openai_provider._cut)."""


class AnswerStalled(httpx2.ReadTimeout):
    """An answer under way sent nothing for its stall limit (``IdleWatch.tighten``, within the
    attempt's heartbeat timeout): the provider's timeout, said as such, with what it billed."""


class IdleWatch:
    """Expires ``deadline`` (an ``asyncio.timeout``) once ``seconds`` pass without ``seen()``,
    or at ``ends_at`` (the loop's clock), whichever comes first."""

    def __init__(
        self, deadline: asyncio.Timeout, seconds: float, ends_at: float | None = None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = deadline
        self._seconds = seconds
        self._ends_at = ends_at
        self.out_of_time = False
        self.last = self._loop.time()
        self._handle = self._loop.call_at(self._due(), self._check)

    def seen(self) -> None:
        self.last = self._loop.time()

    @property
    def seconds(self) -> float:
        return self._seconds

    def tighten(self, seconds: float) -> None:
        """From now on ``seconds`` without a chunk (when shorter than the limit so far)."""
        if seconds >= self._seconds:
            return
        self._seconds = seconds
        self._handle.cancel()
        self._handle = self._loop.call_at(self._due(), self._check)

    def _due(self) -> float:
        idle = self.last + self._seconds
        return idle if self._ends_at is None else min(idle, self._ends_at)

    def _check(self) -> None:
        due = self._due()
        now = self._loop.time()
        if now >= due:
            self.out_of_time = self._ends_at is not None and now >= self._ends_at
            self._deadline.reschedule(now)  # expires it: the read is cancelled
        else:
            self._handle = self._loop.call_at(due, self._check)

    def close(self) -> None:
        self._handle.cancel()


# The watch of the stream being read in this task (``idle_limit``), for ``progress``.
_watching: ContextVar["IdleWatch | None"] = ContextVar("idle_watch", default=None)


def progress() -> None:
    """An event arrived that the stream's reader never sees (Anthropic's ``ping``, which the
    SDK drops): the stream is alive all the same. Outside ``idle_limit`` it does nothing."""
    if (watch := _watching.get()) is not None:
        watch.seen()


@asynccontextmanager
async def idle_limit(
    seconds: float, what: str, ends_in: float | None = None, why_then: str = ""
) -> AsyncIterator[IdleWatch]:
    """Inside it, ``seen()`` at every chunk; ``seconds`` without one raise httpx2's
    ``ReadTimeout`` (the providers classify it as the provider's timeout), and so does
    ``ends_in`` seconds from now, as ``AnswerOutOfTime`` saying ``why_then``. Any other
    ``TimeoutError``, and a cancellation from outside, pass through unchanged."""
    deadline = asyncio.timeout(None)
    loop = asyncio.get_running_loop()
    ends_at = None if ends_in is None else loop.time() + max(ends_in, 0.0)
    watch: IdleWatch | None = None
    try:
        async with deadline:
            watch = IdleWatch(deadline, seconds, ends_at)
            watching = _watching.set(watch)
            try:
                yield watch
            finally:
                _watching.reset(watching)
                watch.close()
    except TimeoutError:
        if deadline.expired() and watch is not None and watch.out_of_time:
            raise AnswerOutOfTime(f"{what}: {why_then}") from None
        if deadline.expired():
            if watch is not None and watch.seconds < seconds:
                raise AnswerStalled(
                    f"{what} stopped for {watch.seconds:g} s after it began (three quarters of "
                    "agent_timeouts.heartbeat_seconds)"
                ) from None
            raise httpx2.ReadTimeout(f"{what}: nothing arrived for {seconds:g} s") from None
        raise


@asynccontextmanager
async def no_later_than(seconds: float | None) -> AsyncIterator[asyncio.Timeout | None]:
    """``asyncio.timeout(seconds)`` (given; none when None), yielded so that the caller can tell
    its expiry from another timeout (the wait for an answer's headers: structured.py)."""
    if seconds is None:
        yield None
        return
    async with asyncio.timeout(max(seconds, 0.0)) as bound:
        yield bound
