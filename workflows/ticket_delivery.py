"""A ticket's answer goes out exactly once: the first attempt as a local activity (lean-history
tickets), then the delivery queue with its long retry policy; a refusal for good ends the ticket
in DELIVERY_FAILED, a state a person can act on. The ledger (activities/delivery) decides whether
this ticket already has an answer out; this module only reads its receipt.

Workflow code, called from TicketWorkflow (workflows/ticket.py): deterministic, no I/O.
"""

import asyncio
from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    TimeoutError,
    is_cancelled_exception,
)
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from policy.transitions import TicketState
    from shared import names
    from shared.delivery import SENT_DETAIL, text_sha256
    from shared.tickets import Ticket
    from shared.view import DeliveryReceipt, DeliveryRequest
    from workflows import options
    from workflows.agent_calls import describe_failure, failure_kind, temporal_priority
    from workflows.local_activities import run_local
    from workflows.ticket_patches import (
        PATCH_CANCEL_HEEDS_SENT_HEARTBEAT,
        PATCH_CANCEL_READS_LEDGER,
    )
    from workflows.ticket_record import TicketRecord

S = TicketState
# Delivery moved to its own task queue (bounded concurrency: a hanging destination never holds
# the tickets queue) and a delivery that cannot go out ends the ticket in DELIVERY_FAILED instead
# of failing the workflow. Tickets started before keep scheduling it on the workflow's queue.
PATCH_DELIVERY_QUEUE = "delivery-queue"


@dataclass(frozen=True)
class _Queued:
    """The local first attempt failed for now: the queued delivery's request, and why."""

    request: DeliveryRequest
    why: str


async def deliver(
    record: TicketRecord,
    ticket: Ticket,
    agent: str,
    reason: str,
    *,
    lean: bool,
    delivering: bool,
    cancel_waits: bool = False,
    replaces: list[str] | None = None,
) -> None:
    """Send the ticket's current draft, exactly once, and move the ticket to COMPLETED (or
    DELIVERY_FAILED when it cannot go out). ``lean``: the ticket takes the lean-history paths
    (the first attempt as a local activity); ``delivering``: a queued delivery moves it to
    DELIVERING (the delivering-state version, decided when the ticket started);
    ``cancel_waits``: a cancellation waits for the attempt that is sending, and an answer that
    went out completes the ticket (the cancel-waits-for-send version); ``replaces``: the chains
    of the runs this ticket's run was started to replace (its memo)."""
    view = record.view
    assert view.draft is not None
    request = DeliveryRequest(
        ticket_id=ticket.ticket_id,
        channel=ticket.channel,
        customer_id=ticket.customer_id,
        revision=view.draft.revision,
        text=view.draft.text,
        subject=ticket.subject,
        customer_email=ticket.customer_email,
        # Data only (no command changes): which ticket of this id the answer belongs to, and
        # the run it replaces (whose answer, out or maybe out, is not sent again).
        chain=workflow.info().first_execution_run_id,
        replaces=replaces or [],
    )
    if _cancelled_meanwhile(cancel_waits):
        # A cancellation that reached the ticket before its delivery but did not stop it (one
        # the orchestrator's child or the batch's signal took as theirs, completing anyway):
        # nothing has gone out, and nothing goes out now.
        raise asyncio.CancelledError()
    own_queue = lean or workflow.patched(PATCH_DELIVERY_QUEUE)
    cancellation = (
        ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        if cancel_waits
        else ActivityCancellationType.TRY_CANCEL
    )
    try:
        receipt = await _deliver_locally(request, cancellation) if lean else _Queued(request, "")
        if isinstance(receipt, _Queued):
            if _cancelled_meanwhile(cancel_waits) and receipt.request.sent_key is None:
                # Cancelled while the first attempt was sending, and nothing went out: the
                # cancellation stands (a queued delivery would send it hours later).
                raise asyncio.CancelledError()
            request = receipt.request  # the local attempt's word for the queued one, if any
            if delivering:
                why = f"first attempt failed for now ({receipt.why}); " if receipt.why else ""
                record.move(S.DELIVERING, "delivery", why + "queued for delivery with retries")
            else:
                record.publish()  # the state the queued delivery waits in
            try:
                receipt = await workflow.execute_activity(
                    names.DELIVER_RESPONSE,
                    request,
                    result_type=DeliveryReceipt,
                    task_queue=(
                        names.delivery_task_queue(workflow.info().task_queue) if own_queue else None
                    ),
                    start_to_close_timeout=options.DELIVERY_START_TO_CLOSE,
                    heartbeat_timeout=options.DELIVERY_HEARTBEAT if own_queue else None,
                    retry_policy=options.DELIVERY_RETRY,
                    summary=f"deliver revision {view.draft.revision} via {ticket.channel}",
                    priority=temporal_priority(record),
                    cancellation_type=cancellation,
                )
            except asyncio.CancelledError:
                receipt = await _sent_all_the_same(request, cancel_waits)
    except (ActivityError, ApplicationError) as err:
        # (An ApplicationError here is the local attempt's refusal for good.) Whether the
        # answer is known to have gone out without the ledger recording it: the local attempt
        # said so (the queued request's sent_key), or a queued attempt did.
        went_out = (
            request.sent_key is not None or _error_type(err) == names.DELIVERY_SENT_UNRECORDED_ERROR
        )
        cancelled = _cancelled_meanwhile(cancel_waits)
        if (
            cancelled
            and not went_out
            and _heartbeat_said_sent(err)
            and workflow.patched(PATCH_CANCEL_HEEDS_SENT_HEARTBEAT)
        ):
            # Cancelled, then the attempt that said it sent went silent (its worker died before
            # the ledger's record): no retry follows a requested cancel, and the answer is out.
            went_out = True
        if not own_queue or (is_cancelled_exception(err) and not (cancelled and went_out)):
            raise
        if cancelled and not went_out:
            # Cancelled while an attempt was sending, and the send failed or was refused:
            # nothing went out, the cancellation stands (not DELIVERY_FAILED, which a redrive
            # would send).
            raise asyncio.CancelledError() from None
        # Refused for good, or retries spent: the answer is decided (in the ledger) but did
        # not reach the customer; or it went out and the ledger could not record it before
        # the ticket was cancelled (a redrive records it). A named state a person can act on,
        # not a failed workflow.
        failure = (
            describe_failure(err)
            if isinstance(err, ActivityError)
            else f"{names.DELIVER_RESPONSE} failed: {err.type or 'error'}: {err.message}"
        )
        if cancelled:
            failure = (
                "the answer went out, but the ticket was cancelled before the delivery ledger "
                f"could record it ({failure}); `redrive` records it"
            )
        view.failure = failure
        record.move(S.DELIVERY_FAILED, "delivery", failure)
        return
    view.delivery = receipt
    # How it went, not where the ledger keeps it (a file path or a database's address: the
    # console shows the log to reviewers; `status` prints the location on its Delivered line).
    via = receipt.sent_via if receipt.sent_via not in (None, "ledger") else None
    outcome = f"delivered revision {receipt.revision}" + (f" by {via}" if via else "")
    if _another_answer_went_out(record, receipt):
        # The ledger already held an answer for this ticket (say, after an operator reset
        # the workflow): the customer has that one, not this draft. Say so loudly.
        outcome = (
            f"NOT delivered: the ledger already held revision {receipt.revision} for this "
            f"ticket (recorded {receipt.delivered_at:%Y-%m-%d %H:%M} UTC) with another text; "
            f"revision {view.draft.revision} was not sent"
        )
    record.move(S.COMPLETED, agent, f"{reason}; {outcome}")


async def _sent_all_the_same(request: DeliveryRequest, cancel_waits: bool) -> DeliveryReceipt:
    """The ledger's receipt when the answer went out although the wait for the queued delivery
    ended in a cancellation; else the cancellation again (or, when the local first attempt said
    it sent the answer, an ApplicationError saying it went out unrecorded). The SDK raises
    CancelledError instead of the activity's result when the cancel request and the delivery's
    end arrive in one workflow task; the ticket said CANCELLED then while the customer had the
    answer. Asked only on that path, and not after the local first attempt: a patch marker
    right after a local activity's marker in one workflow task does not replay reliably
    (ticket_patches.py PATCH_DELIVERING_STATE); the queued delivery's end starts a workflow
    task of its own."""
    if not _cancelled_meanwhile(cancel_waits) or not workflow.patched(PATCH_CANCEL_READS_LEDGER):
        raise asyncio.CancelledError()
    try:
        found: DeliveryReceipt | None = await run_local(
            names.FIND_SENT_DELIVERY,
            request,
            result_type=DeliveryReceipt,
            start_to_close_timeout=options.FIND_SENT_START_TO_CLOSE,
            retry_policy=options.FIND_SENT_RETRY,
            summary="was the answer sent? (the ticket was cancelled)",
        )
    except (ActivityError, ApplicationError):
        # The ledger did not answer (a local activity's own failure comes as ApplicationError).
        found = None
    if found is None and request.sent_key is not None:
        # The local first attempt sent it and the ledger never recorded it: out, unrecorded, as
        # the outer handler ends it outside this race (DELIVERY_FAILED, for a redrive).
        raise ApplicationError(
            "the answer went out and the ledger has no record of it",
            request.sent_key,
            type=names.DELIVERY_SENT_UNRECORDED_ERROR,
        )
    if found is None:
        raise asyncio.CancelledError()  # nothing known to have gone out: the cancellation stands
    workflow.logger.info("cancelled after its answer went out: the ticket completes")
    return found


def _heartbeat_said_sent(err: ActivityError | ApplicationError) -> bool:
    """Whether a queued attempt timed out after its heartbeat said the answer went out."""
    cause = err.cause if isinstance(err, ActivityError) else None
    if not isinstance(cause, TimeoutError) or not cause.last_heartbeat_details:
        return False
    carried = cause.last_heartbeat_details[0]
    return isinstance(carried, dict) and isinstance(carried.get(SENT_DETAIL), str)


def _error_type(err: ActivityError | ApplicationError) -> str | None:
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.type if isinstance(cause, ApplicationError) else None


def _cancelled_meanwhile(cancel_waits: bool) -> bool:
    """The ticket was cancelled while a delivery attempt was sending: the cancellation waited
    for the attempt (the cancel-waits-for-send version) and now stands unless the answer went
    out."""
    return cancel_waits and workflow.cancellation_reason() is not None


async def _deliver_locally(
    request: DeliveryRequest, cancellation: ActivityCancellationType
) -> DeliveryReceipt | _Queued:
    """The first delivery attempt as a local activity. When it failed for now (the worker's
    delivery slots busy, the channel unavailable, the worker without it), the request for the
    queued delivery, with its long retry policy: the same one, or, when the answer went out but
    the ledger could not record it, one saying so (``sent_key``), so the queued attempt records
    it without sending it again. A refusal for good is raised."""
    try:
        return await run_local(
            names.DELIVER_RESPONSE_NOW,
            request,
            result_type=DeliveryReceipt,
            start_to_close_timeout=options.LOCAL_DELIVERY_START_TO_CLOSE,
            retry_policy=options.LOCAL_DELIVERY_RETRY,
            summary=f"deliver revision {request.revision} via {request.channel}",
            cancellation_type=cancellation,
        )
    except (ActivityError, ApplicationError) as err:
        # A local activity's failure can arrive as the activity's own ApplicationError.
        cause = err.cause if isinstance(err, ActivityError) else err
        refused = (
            isinstance(cause, ApplicationError) and cause.type == names.DELIVERY_REJECTED_ERROR
        )
        if refused or is_cancelled_exception(err):
            raise
        kind = failure_kind(err)
        if not isinstance(err, ActivityError):
            kind = f"{names.DELIVER_RESPONSE_NOW} {kind}"
        workflow.logger.info("delivery goes to the queue: %s", kind)
        # The ticket's own record (its encrypted view) says why, in the channel's words ("the
        # webhook at ... answered 500"); the log above only what kind of failure it was. It
        # said "deliver_response_now failed: DeliveryUnavailable" and nothing more.
        why = kind
        if isinstance(cause, ApplicationError) and cause.message:
            why = f"{kind}: {cause.message[:300]}"
        if (
            isinstance(cause, ApplicationError)
            and cause.type == names.DELIVERY_SENT_UNRECORDED_ERROR
            and cause.details
            and isinstance(cause.details[0], str)
        ):
            # Data of the queued activity's input, not a new command: no patch needed.
            return _Queued(request.model_copy(update={"sent_key": cause.details[0]}), why)
        if (
            isinstance(cause, ApplicationError)
            and cause.type == names.DELIVERY_UNAVAILABLE_ERROR
            and cause.next_retry_delay
        ):
            # The channel asked for time (Retry-After): the queued attempt, scheduled at once,
            # waits for it rather than asking again now. Data too, no new command. (Another
            # attempt's claim sets a retry delay too: that is no word from the destination.)
            until = workflow.now() + cause.next_retry_delay
            return _Queued(request.model_copy(update={"not_before": until}), why)
        return _Queued(request, why)


def _another_answer_went_out(record: TicketRecord, receipt: DeliveryReceipt) -> bool:
    """The text hash decides (a reset ticket's new revision 1 can be another text than the
    first run's revision 1); receipts from before the hash was recorded compare revisions."""
    draft = record.view.draft
    assert draft is not None
    if receipt.text_sha256 is not None:
        return receipt.text_sha256 != text_sha256(draft.text)
    return receipt.revision != draft.revision
