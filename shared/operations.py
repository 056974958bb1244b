"""What a client does with tickets on Temporal, as functions that return models.

The command-line client (starter/) renders these and the HTTP API (api/) serves them; tests and
scripts can call them directly. A review's submission is in shared/review_operations.py.
"""

import asyncio
from collections.abc import Callable
from datetime import datetime
from types import EllipsisType
from typing import Any, Final

from pydantic import BaseModel
from temporalio.client import (
    Client,
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
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from policy.priority import fairness_key, usable_fairness_key
from policy.transitions import TicketState
from shared import names, run_spend
from shared import search_attributes as sa
from shared.data_converter import fairness_secret
from shared.operation_errors import OperationError
from shared.search_attribute_setup import ensure_search_attributes
from shared.stores.errors import StoreUnavailable
from shared.ticket_status import memo_if_readable
from shared.ticket_status import not_found as _not_found
from shared.ticket_status import ticket_handle as _handle

# A ticket's view is one of the operations too (status, the API's ticket page).
from shared.ticket_status import ticket_status as ticket_status
from shared.ticket_summary import TicketSummary, summary_from_execution
from shared.tickets import Ticket, content_digest, same_content
from shared.view import TicketRequest

SUBMIT_CONCURRENCY = 16


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
    reopen_unanswered: bool = False,
    raw: dict[str, Any] | None = None,
) -> SubmitOutcome:
    """Start the ticket's workflow. For a batch's ticket: ``batch_id``, the batch it reports to;
    ``fairness``, the fairness key the batch's client made (None for none; by default one is
    made here); ``started_by``, the restarting activity's own id, kept in the memo, so that its
    retry after a start whose answer was lost finds that run and calls it started instead of
    starting yet another. A running or finished ticket under its id is never started
    again. A ticket that ended without an answer (failed, terminated, cancelled, timed out) is
    started again when this is the same ticket (its content digest), so a ticket submitted again
    once the cause is fixed goes through; another ticket's content under that id is a conflict,
    so the ended ticket does not vanish from the listings behind a stranger's. The id is looked
    up (a describe) before any start: a start the server refuses as a duplicate still leaves
    that run's history, with the ticket's encrypted input, in the server's database, where
    erasure cannot reach it (docs/privacy.md); only a start racing another one for a new id
    meets that now. ``keyed``: the id comes from an idempotency key (the
    API's Idempotency-Key, a Message-ID), which names the ticket whatever its words: an ended
    one under it starts again whatever the content. A ticket started again carries in its memo
    what its ended runs recorded they spent (a run records its usage when it settles: one
    terminated from outside records none), whoever starts it (``redrive``, ``submit``, the API),
    so the ticket's totals and budget still count it (shared/run_spend.py).
    ``reopen_unanswered``: a ticket whose run completed UNANSWERED (nobody reviewed it by its
    final deadline; nothing was sent) starts again too (``redrive --state UNANSWERED``).
    ``raw``: the ticket's input as a batch listed it, fields this version does not know
    included, sent whole in place of ``ticket`` (which it reads as) for its workflow to name
    them."""
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
    # A client's key Temporal would refuse is left off (a batch's restart of its ticket failed).
    priority = TemporalPriority(fairness_key=usable_fairness_key(fairness))

    async def start(reuse: WorkflowIDReusePolicy) -> None:
        await client.start_workflow(
            names.TICKET_WORKFLOW,
            (
                TicketRequest(ticket=ticket, batch_id=batch_id)
                if raw is None
                else {"ticket": raw, "batch_id": batch_id}
            ),
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
        taken = await _taken_by(client, ticket)
        if taken is None:
            try:
                await start(WorkflowIDReusePolicy.REJECT_DUPLICATE)
                return SubmitOutcome(
                    ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True
                )
            except WorkflowAlreadyStartedError:
                # Started meanwhile (another submission of the same id, at the same moment).
                taken = await _taken_by(client, ticket)
        # None: the run that held the id is gone (retention, a deletion) since it was looked up.
        if taken is not None:
            outcome, status, held_memo, chain, came_in = taken
            if started_by is not None and held_memo.get(sa.MEMO_STARTED_BY) == started_by:
                return SubmitOutcome(
                    ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True
                )
            reopened = (
                reopen_unanswered
                and status == "COMPLETED"
                and outcome.state == TicketState.UNANSWERED.value
            )
            if (outcome.conflict and not keyed) or (
                status in ("RUNNING", "COMPLETED") and not reopened
            ):
                return outcome
            earlier = run_spend.carried_forward(held_memo)
            if earlier:
                memo[sa.MEMO_EARLIER_USAGE] = earlier
            # Its answer (or one of the runs it replaced), if sent or maybe sent, is not
            # sent again.
            replaced = replaced_chains(held_memo, chain)
            if replaced:
                memo[sa.MEMO_REPLACES_CHAINS] = replaced
            # Its SLA runs from when the customer first wrote, not from this start: a ticket
            # that failed in a ten-hour outage and was started again had an hour more.
            first_intake = held_memo.get(sa.MEMO_FIRST_INTAKE) or (
                came_in.isoformat() if came_in is not None else None
            )
            if first_intake:
                memo[sa.MEMO_FIRST_INTAKE] = first_intake
        try:
            # The same ticket, ended without an answer: it may start again (and only then: a
            # run that started meanwhile is running now, and the server refuses).
            # Completed UNANSWERED and asked to reopen: any closed run may be followed (the
            # server still refuses while a run that started meanwhile is running).
            await start(
                WorkflowIDReusePolicy.ALLOW_DUPLICATE
                if reopen_unanswered
                else WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
            )
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


async def started_by_this(client: Client, ticket: Ticket, started_by: str) -> bool:
    """Whether the run holding the ticket's id is one ``started_by`` (a restarting activity)
    started: a start whose call failed (a timeout) may have taken effect at the server."""
    taken = await _taken_by(client, ticket)
    return taken is not None and taken[2].get(sa.MEMO_STARTED_BY) == started_by


# At most this many replaced runs are named (a ticket restarted over and over: each restart's
# workflow input and every delivery attempt's carry them, ~40 bytes each): the first run and the
# newest. Twenty newest alone forgot, after 21 restarts that failed before delivering, the run
# that had sent the answer (often the first), and the next run sent another under a new key.
MAX_REPLACED_CHAINS = 100


def replaced_chains(held_memo: dict[str, Any], chain: str | None) -> list[str]:
    """The chains a restart replaces: the ended run's own and those it had replaced."""
    earlier = held_memo.get(sa.MEMO_REPLACES_CHAINS)
    named = [c for c in earlier if isinstance(c, str) and c] if isinstance(earlier, list) else []
    every = list(dict.fromkeys([*named, *([chain] if chain else [])]))
    if len(every) <= MAX_REPLACED_CHAINS:
        return every
    return [every[0], *every[-(MAX_REPLACED_CHAINS - 1) :]]


async def _taken_by(
    client: Client, ticket: Ticket
) -> tuple[SubmitOutcome, str, dict[str, Any], str | None, datetime | None] | None:
    """What holds the ticket's id: the outcome (not started; a conflict when it is another
    ticket, its content digest differing: tickets started before the digest was kept, or whose
    memo this key ring cannot read, have none and are taken as the same), the holding run's
    status (RUNNING, COMPLETED, FAILED, ...), its memo (empty when this key ring cannot read
    it), its chain (its first run id) and when it started. None when nothing holds it any
    more."""
    try:
        description = await _handle(client, ticket.ticket_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    memo = await memo_if_readable(description)
    summary = summary_from_execution(description, memo)
    earlier = (memo or {}).get(sa.MEMO_CONTENT)
    outcome = SubmitOutcome(
        ticket_id=ticket.ticket_id,
        workflow_id=names.ticket_workflow_id(ticket.ticket_id),
        started=False,
        state=summary.state,
        conflict=earlier is not None and not same_content(earlier, ticket),
    )
    status = description.status.name if description.status else "UNKNOWN"
    chain = description.raw_description.workflow_execution_info.first_run_id or None
    # Empty when this key ring cannot read it (a retired key): callers read it with .get.
    return outcome, status, memo or {}, chain, description.start_time


async def submit_tickets(
    client: Client, tickets: list[Ticket], keyed: bool = False
) -> list[SubmitOutcome]:
    """Start every ticket (``submit_each``); the first ticket's error that the server or the
    ticket's state gave is raised once all have been tried."""
    outcomes = await submit_each(client, tickets, keyed)
    if failed := next((o for o in outcomes if isinstance(o, Exception)), None):
        raise failed
    return [o for o in outcomes if isinstance(o, SubmitOutcome)]


# What one ticket's start alone can meet, reported as that ticket's outcome (the others went
# ahead): the payload database down for one large input was raised for the whole list, and a
# client told 503 never learnt which tickets it had submitted (a review, 2026-12-07).
ITEM_ERRORS: Final = (RPCError, OperationError, StoreUnavailable, SearchAttributesMissing)


async def submit_each(
    client: Client,
    tickets: list[Ticket],
    keyed: bool = False,
    on_done: Callable[[], None] | None = None,
) -> list[SubmitOutcome | Exception]:
    """Start every ticket, each one's outcome or the error it alone met (the server refusing
    or failing that one start, the payload database down for its large input), in order: one
    ticket's error does not hide the others' starts, which went ahead. Any other error is
    raised once all have been tried. On a namespace no worker has run on yet (a bare
    `temporal server start-dev`), the ticket search attributes are registered first, as the
    worker would. ``on_done`` is told of each start tried (for a caller's progress line)."""
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    registering = asyncio.Lock()
    registered = False

    async def one(ticket: Ticket) -> SubmitOutcome:
        nonlocal registered
        async with gate:
            try:
                try:
                    return await start_ticket(client, ticket, keyed=keyed)
                except SearchAttributesMissing:
                    async with registering:
                        if not registered:
                            await ensure_search_attributes(client)
                            registered = True
                    return await start_ticket(client, ticket, keyed=keyed)
            finally:
                if on_done is not None:
                    on_done()

    results = await asyncio.gather(*(one(t) for t in tickets), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, ITEM_ERRORS):
            raise result
    return [r for r in results if isinstance(r, (SubmitOutcome, *ITEM_ERRORS))]


# ---- read ----------------------------------------------------------------------------------------


async def describe_ticket(client: Client, ticket_id: str) -> TicketSummary:
    try:
        description = await _handle(client, ticket_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(ticket_id, client) from None
        raise
    return summary_from_execution(description, await memo_if_readable(description))
