"""A token bucket per API token, for intake, reports and other reads (one limiter each,
api/app.py).

Per process: each API process keeps its own buckets, so N processes behind a load balancer allow
N times the rate. Run one API process (it only forwards to Temporal, which does the work), or
put the limit in the proxy. Rate limits on the LLM providers are a different matter: those are
task-queue limits the Temporal server enforces for every worker together.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    capacity: float
    per_second: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take one token: 0 when granted, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


class RateLimiter:
    """One bucket per key (an account name; the accounts are a short list from the tokens file,
    so the buckets are bounded too)."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_second = per_minute / 60.0
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def retry_after(self, key: str) -> int | None:
        """None when the request may go ahead, else whole seconds to wait (for Retry-After)."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self._burst, self._per_second, self._burst, now)
            self._buckets[key] = bucket
        wait = bucket.take(now)
        # (less a hair, so float noise never adds a whole second)
        return None if wait == 0 else max(1, math.ceil(wait - 1e-6))
