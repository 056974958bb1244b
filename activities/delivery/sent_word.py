"""What a delivery attempt knows of an earlier attempt's send that the ledger could not record:
the word ``SENT`` (the answer's idempotency key) in an attempt's heartbeat details, or the
``sent_key`` the workflow passes on from a local attempt. An attempt that knows it records the
answer without sending it again, and a failure of such an attempt says the answer went out
(``DeliverySentUnrecorded``), which redrive reads (starter/redrive.py)."""

from typing import Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import carried, earlier
from shared import names
from shared.delivery import SENT_DETAIL
from shared.stores.ledger import LedgerEntry
from shared.view import DeliveryRequest

# The heartbeat detail naming the answer this activity's attempts sent (its idempotency key).
SENT: Final = SENT_DETAIL


def went_out_before(entry: LedgerEntry, request: DeliveryRequest) -> bool:
    """An earlier attempt sent this row's answer but could not mark it sent: it said so in its
    heartbeat details (a queued attempt), or the workflow passed it on (a local one)."""
    key = entry.idempotency_key
    return request.sent_key == key or (
        activity.in_activity() and not activity.info().is_local and earlier(SENT) == key
    )


def still_unrecorded(err: BaseException, request: DeliveryRequest) -> BaseException:
    """A queued attempt's failure, said as what it means when an earlier attempt sent the
    answer (the local one, or a queued one in its heartbeat details): the answer went out and is
    still not recorded. The ledger down at this attempt's start (a connection error before any
    write) would otherwise be the last word when the retries ran out, and nothing in the ticket
    would say that its answer went out: a redrive would send it again (starter/redrive.py reads
    this type to record the row sent instead). Otherwise ``err`` as it is."""
    key = carried(SENT) or request.sent_key
    if key is None or (
        isinstance(err, ApplicationError)
        # A refusal for good stands (a sent row is never sent again, so it is about another
        # row: say, one that another ticket of this id took over).
        and (err.type == names.DELIVERY_SENT_UNRECORDED_ERROR or err.non_retryable)
    ):
        return err
    return ApplicationError(
        f"the answer of ticket {request.ticket_id} went out in an earlier attempt, but the "
        f"ledger could not record it yet ({type(err).__name__}); the next attempt records it "
        "without sending it again",
        key,
        type=names.DELIVERY_SENT_UNRECORDED_ERROR,
    )
