"""How a channel says an attempt failed: for now (retried by Temporal) or for good (the ticket
ends in DELIVERY_FAILED with the reason); and the failure of an attempt that will not send an
answer that may have gone out. Messages never carry a secret."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from shared import names
from shared.stores.ledger import UNCERTAIN_PREFIX, LedgerEntry


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


def not_sent_again(entry: LedgerEntry, who: str) -> ApplicationError:
    """An answer that may have been delivered is not sent again: a person checks (the
    ticket ends DELIVERY_FAILED with this reason; redrive acts once told what they found)."""
    said = (entry.last_error or "").removeprefix(UNCERTAIN_PREFIX)
    return ApplicationError(
        f"{who} handed over the answer of ticket {entry.ticket_id} (idempotency key "
        f"{entry.idempotency_key}) and could not tell whether it arrived ({said[:300]}): "
        "not sent again, so the customer is not answered twice; check the destination, then "
        f"`redrive --arrived {entry.ticket_id}` (recorded sent) or `--not-arrived "
        f"{entry.ticket_id}` (sent again, same key)",
        # As a send's own doubt says it (redrive reads it from the history: the row it is
        # about, even one of a run this ticket replaced whose memo it cannot read).
        names.DELIVERY_MAY_HAVE_ARRIVED,
        entry.idempotency_key,
        type=names.DELIVERY_REJECTED_ERROR,
        non_retryable=True,
    )
