"""The answer of a run this ticket's run was started to replace (``answered_by_the_run_replaced``:
the ticket submitted again, through the API or a redrive, after a run that sent its answer, may
have, or began to, ended without completing): that answer is the ticket's, where it was sent.

A ticket submitted again may name another address (the content digest leaves the address out
when the ticket has a customer id, and a keyed ticket is the same whatever its words). The
replaced run's answer was for the address recorded with it: sent again, it goes there under its
own key, as that run's next attempt would have sent it (a receiver keyed on it takes it once),
and a receipt names it. Sent to the new address under the old key, the customer could get it
twice at two addresses, and a receipt named an address the answer never went to.
"""

from temporalio import activity

from shared.stores.ledger import LedgerEntry, as_address
from shared.view import DeliveryRequest


def as_the_replaced_run_sent_it(request: DeliveryRequest, entry: LedgerEntry) -> DeliveryRequest:
    """``request`` addressed as the replaced run's answer (``entry``) was: the recorded address
    when it is another (rows from before schema 6 record none: the request's stands)."""
    recorded = entry.customer_email
    asked = as_address(request.customer_email) if request.customer_email else None
    if recorded is None or recorded == asked:
        return request
    # No address in the log: the ticket id and which way it went are enough to find it.
    activity.logger.warning(
        "ticket %s: this run's request names another address than the answer of the run it "
        "replaced was for; that answer is the ticket's, at the address it was recorded for",
        request.ticket_id,
    )
    return request.model_copy(update={"customer_email": recorded})


def log_the_replaced_answer(request: DeliveryRequest, entry: LedgerEntry) -> None:
    """Say what happens to the replaced run's answer (not in doubt: that stops for a person)."""
    if entry.sent_at is None:
        # That run began sending its answer and never learnt its fate (a timeout, a 5xx,
        # its worker died): it goes again under its own key, as that run's next attempt
        # would have sent it (a receiver keyed on it takes it once), never this run's
        # answer under a new key beside it.
        activity.logger.warning(
            "ticket %s: the run this one replaced began sending its answer; sending that "
            "answer again under its key, not this run's",
            request.ticket_id,
        )
    else:
        # This ticket was started again (submitted again, the API, a redrive) after a run
        # that sent its answer ended without completing: cancelled just after the send,
        # terminated while delivering. A second answer must not go out: the receipt is
        # that run's (the ticket completes saying which answer the customer has).
        activity.logger.warning(
            "ticket %s: the run this one replaced sent its answer; not sending another",
            request.ticket_id,
        )
