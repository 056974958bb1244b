"""How a channel says an attempt failed: for now (retried by Temporal) or for good (the ticket
ends in DELIVERY_FAILED with the reason). Messages never carry a secret."""

from datetime import timedelta


class DeliveryFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryRejected(DeliveryFailed):
    """The destination refused this answer for good (4xx, rejected recipient, no address)."""


class DeliveryUnavailable(DeliveryFailed):
    """The destination could not take the answer now (unreachable, timeout, 5xx, 429)."""

    def __init__(self, reason: str, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
