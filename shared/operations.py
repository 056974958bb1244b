"""What a client does with tickets on Temporal, as functions that return models.

The command-line client (starter/) renders these and the HTTP API (api/) serves them; tests and
scripts can call them directly.
"""

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from types import EllipsisType
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    Priority as TemporalPriority,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from policy.priority import fairness_key
from policy.transitions import TicketState
from shared import names, run_spend, telemetry
from shared import search_attributes as sa
from shared.data_converter import fairness_secret, key_ring_of
from shared.operation_errors import (
    OperationError,
    ReviewRefused,
    ReviewTimeout,
)
from shared.review import ReviewDecision, ReviewReceipt
from shared.search_attribute_setup import ensure_search_attributes
from shared.ticket_status import no_worker as _no_worker
from shared.ticket_status import not_found as _not_found
from shared.ticket_status import readable_memo, ticket_status
from shared.ticket_status import ticket_handle as _handle
from shared.ticket_summary import TicketSummary, summary_from_execution
from shared.tickets import Ticket, content_digest
from shared.view import TicketRequest, TicketView

# How long a review may wait for a worker to accept or refuse it.
REVIEW_TIMEOUT = 30.0
SUBMIT_CONCURRENCY = 16
# A polling worker renews its long poll at least every minute or so; a poller the server last
# saw longer ago than this has stopped (the server lists pollers for minutes after they go).
POLLER_FRESHNESS = timedelta(minutes=2)


class SubmitOutcome(BaseModel):
    ticket_id: str
    workflow_id: str
    started: bool  # False: the ticket was submitted before and is not processed again
    state: str | None = None  # for duplicates: where the earlier submission is now
    # Not started because an earlier ticket with this id has another subject, body or customer:
    # two tickets whose ids collide (two helpdesks both sending "1001"), not a resubmission.
    conflict: bool = False
    source: str | None = None
    line: int | None = None


# ---- submit --------------------------------------------------------------------------------------


class SearchAttributesMissing(Exception):
    """The namespace does not know the ticket search attributes (no worker has run on it)."""


def _missing_search_attributes(err: RPCError) -> bool:
    return err.status == RPCStatusCode.INVALID_ARGUMENT and (
        "no mapping defined for search attribute" in err.message.lower()
    )


def fairness_keys(client: Client, tickets: list[Ticket]) -> dict[str, str]:
    """Each ticket's fairness key, made with this client's key ring (policy/priority.py; the
    plain digest without one); tickets with no customer have none. A batch passes them to its
    workflow, which holds no key."""
    secret = fairness_secret(client.data_converter)
    keys = {t.ticket_id: fairness_key(t.customer_id, secret) for t in tickets}
    return {ticket_id: key for ticket_id, key in keys.items() if key}


async def start_ticket(
    client: Client,
    ticket: Ticket,
    task_queue: str = names.TICKETS_TASK_QUEUE,
    keyed: bool = False,
    batch_id: str | None = None,
    fairness: str | EllipsisType | None = ...,
    started_by: str | None = None,
) -> SubmitOutcome:
    """Start the ticket's workflow. For a batch's ticket: ``batch_id``, the batch it reports to;
    ``fairness``, the fairness key the batch's client made (None for none; by default one is
    made here); ``started_by``, the restarting activity's own id, kept in the memo, so that its
    retry after a start whose answer was lost finds that run and calls it started instead of
    starting yet another. A running or finished ticket under its id is never started
    again. A ticket that ended without an answer (failed, terminated, cancelled, timed out) is
    started again when this is the same ticket (its content digest), so a ticket submitted again
    once the cause is fixed goes through; another ticket's content under that id is a conflict,
    so the ended ticket does not vanish from the listings behind a stranger's. That check costs
    a describe only when the id is taken. ``keyed``: the id comes from an idempotency key (the
    API's Idempotency-Key, a Message-ID), which names the ticket whatever its words: an ended
    one under it starts again whatever the content. A ticket started again carries in its memo
    what its ended runs recorded they spent (a run records its usage when it settles: one
    terminated from outside records none), whoever starts it (``redrive``, ``submit``, the API),
    so the ticket's totals and budget still count it (shared/run_spend.py)."""
    workflow_id = names.ticket_workflow_id(ticket.ticket_id)
    memo: dict[str, Any] = {
        sa.MEMO_SUBJECT: ticket.subject,
        sa.MEMO_CONTENT: content_digest(ticket),
    }
    if started_by is not None:
        memo[sa.MEMO_STARTED_BY] = started_by
    # Fairness between customers in a backlogged queue (docs/performance.md).
    if fairness is ...:
        fairness = fairness_keys(client, [ticket]).get(ticket.ticket_id)
    priority = TemporalPriority(fairness_key=fairness)

    async def start(reuse: WorkflowIDReusePolicy) -> None:
        await client.start_workflow(
            names.TICKET_WORKFLOW,
            TicketRequest(ticket=ticket, batch_id=batch_id),
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=reuse,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.TICKET_STATE, TicketState.NEW.value)]
            ),
            memo=memo,
            static_summary=f"Ticket {ticket.ticket_id}: {ticket.subject}"[:200],
            priority=priority,
        )

    try:
        try:
            await start(WorkflowIDReusePolicy.REJECT_DUPLICATE)
            return SubmitOutcome(ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True)
        except WorkflowAlreadyStartedError:
            taken = await _taken_by(client, ticket)
            # None: the run that held the id is gone (retention, a deletion) since the start.
            if taken is not None:
                outcome, status, held_memo, chain = taken
                if started_by is not None and held_memo.get(sa.MEMO_STARTED_BY) == started_by:
                    return SubmitOutcome(
                        ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True
                    )
                if (outcome.conflict and not keyed) or status in ("RUNNING", "COMPLETED"):
                    return outcome
                earlier = run_spend.carried_forward(held_memo)
                if earlier:
                    memo[sa.MEMO_EARLIER_USAGE] = earlier
                # Its answer (or one of the runs it replaced), if sent or maybe sent, is not
                # sent again.
                replaced = replaced_chains(held_memo, chain)
                if replaced:
                    memo[sa.MEMO_REPLACES_CHAINS] = replaced
        try:
            # The same ticket, ended without an answer: it may start again (and only then: a
            # run that started meanwhile is running now, and the server refuses).
            await start(WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        except WorkflowAlreadyStartedError:
            taken = await _taken_by(client, ticket)
            if taken is None:
                raise _not_found(ticket.ticket_id, client) from None
            # Started meanwhile by another attempt of the same activity (one whose heartbeat
            # lapsed, still running beside its retry): that start is this one's.
            if started_by is not None and taken[2].get(sa.MEMO_STARTED_BY) == started_by:
                return SubmitOutcome(
                    ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True
                )
            return taken[0]
    except RPCError as err:
        if _missing_search_attributes(err):
            raise SearchAttributesMissing(err.message) from None
        raise
    return SubmitOutcome(ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True)


# At most this many replaced runs are named (a ticket restarted over and over): the newest.
MAX_REPLACED_CHAINS = 20


def replaced_chains(held_memo: dict[str, Any], chain: str | None) -> list[str]:
    """The chains a restart replaces: the ended run's own and those it had replaced."""
    earlier = held_memo.get(sa.MEMO_REPLACES_CHAINS)
    named = [c for c in earlier if isinstance(c, str) and c] if isinstance(earlier, list) else []
    return list(dict.fromkeys([*named, *([chain] if chain else [])]))[-MAX_REPLACED_CHAINS:]


async def _taken_by(
    client: Client, ticket: Ticket
) -> tuple[SubmitOutcome, str, dict[str, Any], str | None] | None:
    """What holds the ticket's id: the outcome (not started; a conflict when it is another
    ticket, its content digest differing: tickets started before the digest was kept, or whose
    memo this key ring cannot read, have none and are taken as the same), the holding run's
    status (RUNNING, COMPLETED, FAILED, ...), its memo (empty when this key ring cannot read
    it) and its chain (its first run id). None when nothing holds it any more."""
    try:
        description = await _handle(client, ticket.ticket_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await readable_memo(description)
    summary = summary_from_execution(description, memo)
    earlier = memo.get(sa.MEMO_CONTENT)
    outcome = SubmitOutcome(
        ticket_id=ticket.ticket_id,
        workflow_id=names.ticket_workflow_id(ticket.ticket_id),
        started=False,
        state=summary.state,
        conflict=earlier is not None and earlier != content_digest(ticket),
    )
    status = description.status.name if description.status else "UNKNOWN"
    chain = description.raw_description.workflow_execution_info.first_run_id or None
    return outcome, status, memo, chain


async def submit_tickets(
    client: Client, tickets: list[Ticket], keyed: bool = False
) -> list[SubmitOutcome]:
    """Start every ticket. On a namespace no worker has run on yet (a bare `temporal server
    start-dev`), the ticket search attributes are registered first, as the worker would."""
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    registering = asyncio.Lock()
    registered = False

    async def one(ticket: Ticket) -> SubmitOutcome:
        nonlocal registered
        async with gate:
            try:
                return await start_ticket(client, ticket, keyed=keyed)
            except SearchAttributesMissing:
                async with registering:
                    if not registered:
                        await ensure_search_attributes(client)
                        registered = True
                return await start_ticket(client, ticket, keyed=keyed)

    return list(await asyncio.gather(*(one(t) for t in tickets)))


# ---- read ----------------------------------------------------------------------------------------


async def describe_ticket(client: Client, ticket_id: str) -> TicketSummary:
    try:
        description = await _handle(client, ticket_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(ticket_id, client) from None
        raise
    return summary_from_execution(description, await readable_memo(description))


# ---- review --------------------------------------------------------------------------------------


async def workers_polling(client: Client, task_queue: str = names.TICKETS_TASK_QUEUE) -> bool:
    """Whether a worker is polling the queue: one the server saw within POLLER_FRESHNESS (it
    keeps listing pollers for minutes after they stop)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    recent = datetime.now(UTC) - POLLER_FRESHNESS
    return any(
        not p.HasField("last_access_time") or p.last_access_time.ToDatetime(tzinfo=UTC) >= recent
        for p in response.pollers
    )


async def _view_of(client: Client, ticket_id: str) -> TicketView | None:
    """The ticket's view, for the review's trace link and update id; best effort."""
    try:
        return await ticket_status(client, ticket_id)
    except (OperationError, RPCError):
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
    waits = [t.at for t in view.transitions if t.to_state is TicketState.AWAITING_REVIEW]
    texts = (decision.edited_text, decision.notes, decision.reason)
    parts = [
        ticket_id,
        decision.chain or view.chain or "",
        str(decision.revision),
        str(decision.saw_no_draft),
        decision.reviewer,
        decision.action.value,
        *(hashlib.sha256(t.encode()).hexdigest() if t is not None else "-" for t in texts),
        waits[-1].isoformat() if waits else "-",
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


async def submit_review(client: Client, ticket_id: str, decision: ReviewDecision) -> ReviewReceipt:
    """Send ``decision``; a retry of it (after a timeout) gets the first one's receipt, also
    once the ticket has completed."""
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
        raise _no_worker(f"on the {names.TICKETS_TASK_QUEUE} task queue; the review was not sent")
    # A completed ticket's view is read from its history (no worker needed).
    view = await _view_of(client, ticket_id)
    update_id = (
        None
        if view is None
        else review_update_id(ticket_id, decision, view, _review_secret(client))
    )
    if completed and update_id is None:
        raise refused
    # On a completed ticket only a retry is answered (with the first one's receipt); the
    # server refuses any other update there as NOT_FOUND, refused below.
    try:
        return await asyncio.wait_for(
            _review_linked(handle, ticket_id, decision, view, update_id), REVIEW_TIMEOUT
        )
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # The SDK answers the cancellation of its wait (asyncio.wait_for's, at REVIEW_TIMEOUT)
        # with its own error, which wait_for lets through instead of its TimeoutError.
        raise ReviewTimeout(
            f"no worker accepted or refused the review within {REVIEW_TIMEOUT:.0f}s; it may still "
            f"be applied when a worker picks it up: check with `status {ticket_id}`"
        ) from None
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise ReviewRefused(f"review refused: {message}") from None
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # Either no such ticket, or its workflow has closed: say which.
        summary = await describe_ticket(client, ticket_id)
        raise ReviewRefused(
            f"review refused: ticket {ticket_id} is {summary.state or summary.workflow_status}, "
            "not awaiting review"
        ) from None
