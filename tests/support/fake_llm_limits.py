"""The fake provider's rate limits: token buckets as providers enforce theirs, refilled
continuously and holding one second's worth, full when first used."""

import time


class SecondBucket:
    """``rate`` units a second, at most a second's worth (and at least ``least``) saved up."""

    def __init__(self, rate: float, least: float = 0.0, refusals_count: bool = False) -> None:
        self.rate = rate
        self.capacity = max(rate, least)
        self.left = self.capacity
        # A refused request takes its units too, down to a second's worth of debt: OpenAI
        # documents that "unsuccessful requests contribute to your per-minute limit", so a
        # client that keeps sending over the limit keeps being refused.
        self.refusals_count = refusals_count
        self._refilled = time.monotonic()

    def take(self, cost: float) -> bool:
        """Take ``cost`` units if the bucket holds them; False if not (taking nothing, or with
        ``refusals_count`` taking them all the same, down to ``-capacity``)."""
        now = time.monotonic()
        self.left = min(self.capacity, self.left + (now - self._refilled) * self.rate)
        self._refilled = now
        if self.left < cost:
            if self.refusals_count:
                self.left = max(self.left - cost, -self.capacity)
            return False
        self.left -= cost
        return True
