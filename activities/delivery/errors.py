"""How a channel says an attempt failed: for now (retried by Temporal) or for good (the ticket
ends in DELIVERY_FAILED with the reason). Messages never carry a secret."""

from datetime import timedelta


class DeliveryFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryRejected(DeliveryFailed):
    """The destination refused this answer for good (4xx, rejected recipient, no address)."""


class DeliveryUncertain(DeliveryFailed):
    """The destination may have taken the answer: the connection broke or timed out after the
    message was handed over, before the destination said whether it took it. Sending again
    could answer the customer twice, so nothing is sent again: the ticket ends in
    DELIVERY_FAILED with the reason, for a person to check and redrive if it did not arrive."""


class DeliveryUnavailable(DeliveryFailed):
    """The destination could not take the answer now (unreachable, timeout, 5xx, 429)."""

    def __init__(self, reason: str, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
