"""A channel's verdict on one send, as the delivery activity acts on it: noted on the ledger's
row (the refusals counted, a doubt marked) and raised as the attempt's error, which says to the
workflow and to the retry policy what happens next."""

from temporalio.exceptions import ApplicationError

from activities.delivery.attempt_time import retry_delay
from activities.delivery.channels import Channel
from activities.delivery.errors import DeliveryRejected, DeliveryUnavailable, DeliveryUncertain
from activities.delivery.mark_sent import note_failure
from shared import names
from shared.stores.ledger import REFUSED_PREFIX, UNCERTAIN_PREFIX, DeliveryLedger, LedgerEntry
from shared.view import DeliveryRequest


async def send_noting(
    ledger: DeliveryLedger,
    channel: Channel,
    entry: LedgerEntry,
    request: DeliveryRequest,
    attempt_deadline: float,
) -> None:
    """Send the row's answer through ``channel``; a refusal, a doubt or an outage is noted on
    the row (only while it is still this answer's) and raised as the attempt's error."""
    try:
        await channel.send(entry, request)
    except DeliveryRejected as err:
        # Counted on the row (refusals): only a row whose every send was refused may go by
        # another channel, so a refusal that went unrecorded kept it on this one for good.
        await _note(ledger, entry, REFUSED_PREFIX + err.reason, attempt_deadline)
        raise ApplicationError(
            err.reason, type=names.DELIVERY_REJECTED_ERROR, non_retryable=True
        ) from None
    except DeliveryUncertain as err:
        # Not a refusal (a redrive must not move the row to another channel): it may be out.
        reason = (
            f"{err.reason}: it may have been delivered; once checked, `redrive --arrived "
            f"{entry.ticket_id}` or `--not-arrived {entry.ticket_id}` settles it"
        )
        await _note(ledger, entry, UNCERTAIN_PREFIX + reason, attempt_deadline)
        raise ApplicationError(
            reason,
            names.DELIVERY_MAY_HAVE_ARRIVED,
            entry.idempotency_key,
            type=names.DELIVERY_REJECTED_ERROR,
            non_retryable=True,
        ) from None
    except DeliveryUnavailable as err:
        await _note(ledger, entry, err.reason)
        raise ApplicationError(
            err.reason,
            type=names.DELIVERY_UNAVAILABLE_ERROR,
            next_retry_delay=retry_delay(err.retry_after),
        ) from None


async def _note(
    ledger: DeliveryLedger, entry: LedgerEntry, reason: str, attempt_deadline: float | None = None
) -> None:
    await note_failure(ledger, entry.ticket_id, reason, attempt_deadline, entry.idempotency_key)
