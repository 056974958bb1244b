"""A reviewer's decision sent to a ticket: an update with an id that makes a retry get the first
one's receipt, in a trace of its own linked to the ticket's. The command line's `review`, the
API's review route and the console all send it through ``submit_review``.
"""

import asyncio
import hashlib
import hmac
from typing import Any, Final

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from policy.review_policy import ReasonCode
from policy.transitions import TicketState
from shared import names, telemetry
from shared.data_converter import key_ring_of
from shared.operation_errors import (
    OperationError,
    ReviewMaybeSent,
    ReviewRefused,
    ReviewTimeout,
    TicketUnreadable,
)
from shared.operations import describe_ticket
from shared.queue_pollers import unrouted_hint, workers_polling
from shared.review import ReviewDecision, ReviewReceipt
from shared.ticket_status import key_problem, ticket_status
from shared.ticket_status import no_worker as _no_worker
from shared.ticket_status import ticket_handle as _handle
from shared.view import TicketView

# How long a review may wait for a worker to accept or refuse it.
REVIEW_TIMEOUT = 30.0


async def _view_of(client: Client, ticket_id: str, *, running: bool) -> TicketView | None:
    """The ticket's view: what binds the review to the wait it was made in, and its update id
    (a retry gets the first one's receipt). A running ticket's must be read: sent without it,
    a review was applied unbound (an approval of a draft a colleague had sent back) and its
    retry after a timeout was refused as late; so its error stops the review, which was not
    sent. A completed ticket's (read from its history) is best effort."""
    try:
        return await ticket_status(client, ticket_id)
    except OperationError as err:
        if running:
            raise type(err)(f"{err}; the review was not sent") from None
        return None
    except RPCError:
        if running:
            raise
        return None


def review_update_id(
    ticket_id: str, decision: ReviewDecision, view: TicketView, secret: bytes | None
) -> str:
    """The id of the update that carries ``decision``: the same for a retry of the same
    decision, so the server answers it with the first one's outcome (Temporal deduplicates
    updates by id within a workflow run, a completed one even after the run closed) instead of
    applying it twice or refusing it as late.

    What the reviewer decided on (ticket, chain, revision, reviewer, action, a digest of each
    text) and which wait for review it was made in: a rework that brings the ticket back with
    no new draft (its resolver had to stop) begins another wait, where the same reviewer's same
    decision is a new one, not a retry. An HMAC under a key derived from the encryption key ring
    (a plain digest without one): the id is stored in plain text in the history, and must not
    let anyone confirm a guessed reason or reply."""
    began = view.review_wait_began()
    texts = (decision.edited_text, decision.notes, decision.reason)
    parts = [
        ticket_id,
        decision.chain or view.chain or "",
        str(decision.revision),
        str(decision.saw_no_draft),
        decision.reviewer,
        decision.action.value,
        *(hashlib.sha256(t.encode()).hexdigest() if t is not None else "-" for t in texts),
        began.isoformat() if began else "-",
    ]
    message = "\x1f".join(parts).encode()
    if secret is None:
        return "review-" + hashlib.sha256(message).hexdigest()[:32]
    return "review-" + hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def _review_secret(client: Client) -> bytes | None:
    ring = key_ring_of(client.data_converter)
    return ring.derived_key("review-update-id") if ring is not None else None


async def _review_linked(
    handle: WorkflowHandle[Any, Any],
    ticket_id: str,
    decision: ReviewDecision,
    view: TicketView | None,
    update_id: str | None,
) -> ReviewReceipt:
    """The review in a trace of its own, linked to the ticket's: a person acting days later is
    related to the ticket's processing, not a step of it."""
    attributes = {"tickets.ticket_id": ticket_id, "tickets.review.action": str(decision.action)}
    ticket_trace = (view.trace_id, view.trace_span_id) if view else (None, None)
    # One span name for every review (a name per ticket would grow a backend's operation list).
    with telemetry.linked_span("review", *ticket_trace, attributes):
        return await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, decision, id=update_id, result_type=ReviewReceipt
        )


# An update's RPC failing with one of these may have been admitted before it failed.
MAYBE_SENT: Final = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.INTERNAL,
        RPCStatusCode.CANCELLED,
    }
)

# How each caller names a wait for review (its option or field), for the refusal's advice.
CLI_WAIT_OPTION = "--waiting-since"
API_WAIT_FIELD = "waiting_since"


def in_the_current_wait(
    ticket_id: str, decision: ReviewDecision, view: TicketView, option: str = CLI_WAIT_OPTION
) -> ReviewDecision:
    """``decision`` made in the ticket's current wait for review (``view``'s), for a reviewer
    who names no wait (the command line; an API review without ``waiting_since``): the ticket
    then refuses it if a rework sends the ticket back and it waits again before the decision
    arrives. ``option``: how that reviewer names a wait.

    A draft revision named in a wait that a failed rework began (the same revision came back,
    with the rework's notes and why it failed in the log) may have been seen in the wait
    before, by a reviewer who never saw that another sent it back: refused, unless the
    reviewer names the wait they decided in."""
    began = view.review_wait_began()
    if decision.waiting_since is not None or began is None:
        return decision
    if (
        decision.revision is not None
        and view.state is TicketState.AWAITING_REVIEW
        and ReasonCode.REWORK_FAILED.value in view.review_reason_codes
    ):
        raise ReviewRefused(
            f"review refused: ticket {ticket_id}'s draft revision {decision.revision} was sent "
            f"back for rework, which failed; it waits again since {began.isoformat()} (`status "
            f"{ticket_id}` says who sent it back and why). If you decided after looking at it "
            f"since then, add {option} {began.isoformat()}"
        )
    return decision.model_copy(update={"waiting_since": began})


async def submit_review(
    client: Client, ticket_id: str, decision: ReviewDecision, *, current_wait: str | None = None
) -> ReviewReceipt:
    """Send ``decision``; a retry of it (after a timeout) gets the first one's receipt, also
    once the ticket has completed. ``current_wait``: a decision that names no wait was made in
    the one the ticket is in now (``in_the_current_wait``), the reviewer naming a wait with
    that option or field; None for a caller that always names it (the console)."""
    handle = _handle(client, ticket_id)
    summary = await describe_ticket(client, ticket_id)
    running = summary.workflow_status == WorkflowExecutionStatus.RUNNING.name
    completed = summary.workflow_status == WorkflowExecutionStatus.COMPLETED.name
    refused = ReviewRefused(
        f"review refused: ticket {ticket_id} is {summary.state}, not awaiting review"
    )
    if not (running or completed):
        raise refused
    if running and not await workers_polling(client):
        raise _no_worker(
            f"on the {names.TICKETS_TASK_QUEUE} task queue; the review was not sent"
            + await unrouted_hint(client)
        )
    # A completed ticket's view is read from its history (no worker needed).
    view = await _view_of(client, ticket_id, running=running)
    update_id = (
        None
        if view is None
        else review_update_id(ticket_id, decision, view, _review_secret(client))
    )
    if completed and update_id is None:
        raise refused
    if current_wait and view is not None and running:
        decision = in_the_current_wait(ticket_id, decision, view, current_wait)
    # On a completed ticket only a retry is answered (with the first one's receipt); the
    # server refuses any other update there as NOT_FOUND, refused below.
    try:
        receipt = await asyncio.wait_for(
            _review_linked(handle, ticket_id, decision, view, update_id), REVIEW_TIMEOUT
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The SDK answers the cancellation of its wait (asyncio.wait_for's, at REVIEW_TIMEOUT)
        # with its own error, which wait_for lets through instead of its TimeoutError.
        raise ReviewTimeout(
            f"no worker accepted or refused the review within {REVIEW_TIMEOUT:.0f}s; it may still "
            f"be applied when a worker picks it up: look at ticket {ticket_id} again (`status "
            f"{ticket_id}`, or GET /tickets/{ticket_id} in the API) before sending it again"
        ) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise ReviewRefused(f"review refused: {message}") from None
    except RPCError as err:
        if "workflow task in failed state" in err.message.lower():
            # Its worker fails every task of this ticket (the update never reached the code):
            # say why when this process can tell (a key its ring lacks), as `status` does.
            why = await key_problem(client, ticket_id)
            # Unreadable, not refused: nothing about the review is wrong, and a 409 reads as
            # final to an integration (GET /tickets/{id} answers the same cause with a 502).
            raise TicketUnreadable(
                f"review not sent: ticket {ticket_id}'s worker fails its every workflow task, so "
                "it takes no decision now: " + (why or "the worker's log says why")
            ) from None
        if err.status in MAYBE_SENT:
            # The request may have reached the server before the connection failed: told "not
            # sent", a reviewer sent another decision over the applied one (a review, 2026-12-07).
            raise ReviewMaybeSent(
                f"the connection to the Temporal server failed while the review was being sent "
                f"({err.status.name if err.status else 'no status'}), so it may have been "
                f"applied: look at ticket {ticket_id} again (`status {ticket_id}`, or "
                f"GET /tickets/{ticket_id} in the API) before sending it again"
            ) from None
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # Either no such ticket, or its workflow has closed: say which.
        summary = await describe_ticket(client, ticket_id)
        raise ReviewRefused(
            f"review refused: ticket {ticket_id} is {summary.state or summary.workflow_status}, "
            "not awaiting review"
        ) from None
    return _marked_repeated(receipt, view)


def _marked_repeated(receipt: ReviewReceipt, before: TicketView | None) -> ReviewReceipt:
    """``receipt`` with ``repeated`` set when the ticket, read before the review was sent, had
    already applied it: a retry is answered with the first one's receipt, whose moment is that
    review's record's. The CLI said "approve accepted" again for a ticket completed an hour ago."""
    if before is not None and any(
        r.applied and r.at == receipt.accepted_at for r in before.reviews
    ):
        return receipt.model_copy(update={"repeated": True})
    return receipt
