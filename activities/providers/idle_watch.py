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

import httpx2


class IdleWatch:
    """Expires ``deadline`` (an ``asyncio.timeout``) once ``seconds`` pass without ``seen()``."""

    def __init__(self, deadline: asyncio.Timeout, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = deadline
        self._seconds = seconds
        self.last = self._loop.time()
        self._handle = self._loop.call_at(self.last + seconds, self._check)

    def seen(self) -> None:
        self.last = self._loop.time()

    def _check(self) -> None:
        due = self.last + self._seconds
        if self._loop.time() >= due:
            self._deadline.reschedule(self._loop.time())  # expires it: the read is cancelled
        else:
            self._handle = self._loop.call_at(due, self._check)

    def close(self) -> None:
        self._handle.cancel()


@asynccontextmanager
async def idle_limit(seconds: float, what: str) -> AsyncIterator[IdleWatch]:
    """Inside it, ``seen()`` at every chunk; ``seconds`` without one raise httpx2's
    ``ReadTimeout`` (the providers classify it as the provider's timeout). Any other
    ``TimeoutError``, and a cancellation from outside, pass through unchanged."""
    deadline = asyncio.timeout(None)
    try:
        async with deadline:
            watch = IdleWatch(deadline, seconds)
            try:
                yield watch
            finally:
                watch.close()
    except TimeoutError:
        if deadline.expired():
            raise httpx2.ReadTimeout(f"{what}: nothing arrived for {seconds:g} s") from None
        raise
