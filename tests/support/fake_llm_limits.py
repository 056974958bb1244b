"""The fake provider's rate limits: token buckets as providers enforce theirs, refilled
continuously and holding one second's worth, full when first used."""

import time


class SecondBucket:
    """``rate`` units a second, at most a second's worth (and at least ``least``) saved up."""

    def __init__(self, rate: float, least: float = 0.0) -> None:
        self.rate = rate
        self.capacity = max(rate, least)
        self.left = self.capacity
        self._refilled = time.monotonic()

    def take(self, cost: float) -> bool:
        """Take ``cost`` units if the bucket holds them; False (taking nothing) if not."""
        now = time.monotonic()
        self.left = min(self.capacity, self.left + (now - self._refilled) * self.rate)
        self._refilled = now
        if self.left < cost:
            return False
        self.left -= cost
        return True
