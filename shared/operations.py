"""What a client does with tickets on Temporal, as functions that return models.

The command-line client (starter/) renders these and the HTTP API (api/) serves them; tests and
scripts can call them directly.
"""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from policy.transitions import SETTLED_STATES, TERMINAL_STATES, TicketState
from shared import names, telemetry
from shared import search_attributes as sa
from shared.agents import Category, Priority
from shared.operation_errors import (
    NoWorker,
    OperationError,
    ReviewRefused,
    ReviewTimeout,
    TicketNotFound,
)
from shared.review import ReviewDecision, ReviewReceipt
from shared.search_attribute_setup import ensure_search_attributes
from shared.tickets import Ticket
from shared.view import TicketRequest, TicketView

# How long one status query may take before we fall back to what visibility knows.
QUERY_TIMEOUT = timedelta(seconds=10)
# How long a review may wait for a worker to accept or refuse it.
REVIEW_TIMEOUT = 30.0
SUBMIT_CONCURRENCY = 16
# A polling worker renews its long poll at least every minute or so; a poller the server last
# saw longer ago than this has stopped (the server lists pollers for minutes after they go).
POLLER_FRESHNESS = timedelta(minutes=2)
# While waiting for tickets to settle, how often to make sure a worker is still polling.
WORKER_CHECK_SECONDS = 10.0


class SubmitOutcome(BaseModel):
    ticket_id: str
    workflow_id: str
    started: bool  # False: the ticket was submitted before and is not processed again
    state: str | None = None  # for duplicates: where the earlier submission is now
    source: str | None = None
    line: int | None = None


class AgentTotals(BaseModel):
    tokens: int = 0
    estimated_tokens: int = 0  # of ``tokens``, estimated (characters / 4) rather than counted
    cost_usd: float = 0.0
    calls: int = 0


class TicketSummary(BaseModel):
    """A ticket as the visibility store sees it (no worker needed)."""

    ticket_id: str
    workflow_status: str
    state: str | None = None
    category: str | None = None
    priority: str | None = None
    sla_deadline: datetime | None = None
    escalated: bool = False
    subject: str | None = None
    started_at: datetime | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    trimmed_tokens: int = 0  # an estimate: characters / 4
    estimated_tokens: int = 0  # of ``tokens``, estimated (characters / 4) rather than counted
    agents: dict[str, AgentTotals] = Field(default_factory=dict)


class Report(BaseModel):
    total: int
    by_state: dict[str, int]
    by_category: dict[str, int]
    by_priority: dict[str, int]
    review_queue: list[TicketSummary]
    escalated: int
    tokens: int
    cost_usd: float
    calls: int
    trimmed_tokens: int = 0  # an estimate: characters / 4
    estimated_tokens: int = 0  # of ``tokens``, estimated (characters / 4) rather than counted
    agents: dict[str, AgentTotals] = Field(default_factory=dict)
    earlier: int | None = Field(default=None, description="tickets not submitted by this run")


# ---- submit --------------------------------------------------------------------------------------


class SearchAttributesMissing(Exception):
    """The namespace does not know the ticket search attributes (no worker has run on it)."""


def _missing_search_attributes(err: RPCError) -> bool:
    return err.status == RPCStatusCode.INVALID_ARGUMENT and (
        "no mapping defined for search attribute" in err.message.lower()
    )


async def start_ticket(
    client: Client, ticket: Ticket, task_queue: str = names.TICKETS_TASK_QUEUE
) -> SubmitOutcome:
    workflow_id = names.ticket_workflow_id(ticket.ticket_id)
    try:
        await client.start_workflow(
            names.TICKET_WORKFLOW,
            TicketRequest(ticket=ticket),
            id=workflow_id,
            task_queue=task_queue,
            # One ticket, one workflow: a running or finished ticket is never started again. A
            # FAILED one may be submitted again once the cause is fixed (nothing was delivered).
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.TICKET_STATE, TicketState.NEW.value)]
            ),
            memo={sa.MEMO_SUBJECT: ticket.subject},
            static_summary=f"Ticket {ticket.ticket_id}: {ticket.subject}"[:200],
        )
    except WorkflowAlreadyStartedError:
        summary = await describe_ticket(client, ticket.ticket_id)
        return SubmitOutcome(
            ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=False, state=summary.state
        )
    except RPCError as err:
        if _missing_search_attributes(err):
            raise SearchAttributesMissing(err.message) from None
        raise
    return SubmitOutcome(ticket_id=ticket.ticket_id, workflow_id=workflow_id, started=True)


async def submit_tickets(client: Client, tickets: list[Ticket]) -> list[SubmitOutcome]:
    """Start every ticket. On a namespace no worker has run on yet (a bare `temporal server
    start-dev`), the ticket search attributes are registered first, as the worker would."""
    gate = asyncio.Semaphore(SUBMIT_CONCURRENCY)
    registering = asyncio.Lock()
    registered = False

    async def one(ticket: Ticket) -> SubmitOutcome:
        nonlocal registered
        async with gate:
            try:
                return await start_ticket(client, ticket)
            except SearchAttributesMissing:
                async with registering:
                    if not registered:
                        await ensure_search_attributes(client)
                        registered = True
                return await start_ticket(client, ticket)

    return list(await asyncio.gather(*(one(t) for t in tickets)))


# ---- read ----------------------------------------------------------------------------------------


def _handle(client: Client, ticket_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(names.ticket_workflow_id(ticket_id))


def _not_found(ticket_id: str, client: Client) -> TicketNotFound:
    return TicketNotFound(f"no ticket {ticket_id} on this server (namespace {client.namespace})")


def summary_from_execution(execution: Any, memo: dict[str, Any]) -> TicketSummary:
    attrs: TypedSearchAttributes = execution.typed_search_attributes
    usage = memo.get(sa.MEMO_USAGE) or {}
    status = execution.status.name if execution.status else "UNKNOWN"
    state = attrs.get(sa.TICKET_STATE)
    if status != WorkflowExecutionStatus.RUNNING.name and state not in TERMINAL_STATES:
        # Terminated or timed out from outside: the workflow could not record a final state,
        # so its last one (say AWAITING_REVIEW) would be a lie.
        state = status
    return TicketSummary(
        ticket_id=names.ticket_id_from_workflow_id(execution.id),
        workflow_status=status,
        state=state,
        category=attrs.get(sa.TICKET_CATEGORY),
        priority=attrs.get(sa.TICKET_PRIORITY),
        sla_deadline=attrs.get(sa.TICKET_SLA_DEADLINE),
        escalated=bool(attrs.get(sa.TICKET_ESCALATED)),
        subject=memo.get(sa.MEMO_SUBJECT),
        started_at=execution.start_time,
        tokens=int(usage.get("tokens", 0)),
        cost_usd=float(usage.get("cost_usd", 0.0)),
        calls=int(usage.get("calls", 0)),
        trimmed_tokens=int(usage.get("trimmed_tokens", 0)),
        estimated_tokens=int(usage.get("estimated_tokens", 0)),
        agents={k: AgentTotals.model_validate(v) for k, v in (usage.get("agents") or {}).items()},
    )


async def describe_ticket(client: Client, ticket_id: str) -> TicketSummary:
    try:
        description = await _handle(client, ticket_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(ticket_id, client) from None
        raise
    return summary_from_execution(description, dict(await description.memo()))


def _no_worker(what: str) -> NoWorker:
    return NoWorker(
        f"no worker answered {what}: is `python worker.py` running against this server "
        f"and namespace?"
    )


async def ticket_status(client: Client, ticket_id: str) -> TicketView:
    """The full view from the workflow's status query (works on closed tickets too; a worker
    answers it, replaying the history when the ticket is closed)."""
    try:
        return await _handle(client, ticket_id).query(
            names.STATUS_QUERY, result_type=TicketView, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(ticket_id, client) from None
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            raise _no_worker(f"the status query for {ticket_id}") from None
        raise


# Waiting for many tickets asks the visibility store, once per interval, which of them have come
# to rest: one List request whatever the number of tickets (a status query per ticket per
# interval would be a round trip to a worker each, and 600 requests a second for 300 tickets).
# At most this many ids go into one query; the rest join as the first ones settle.
MAX_IDS_PER_VISIBILITY_QUERY = 500
# Status queries (one per ticket, once it rests) in flight at once.
STATUS_FETCH_CONCURRENCY = 16


def settled_query(ticket_ids: list[str]) -> str:
    """A visibility query for those of ``ticket_ids`` that rest: their state is a settled one,
    or their workflow has closed (a terminated ticket never reaches a settled state). Ticket
    ids match ``TICKET_ID_PATTERN`` (letters, digits, ``._-``), so they are quoted safely."""
    ids = ", ".join(f"'{names.ticket_workflow_id(t)}'" for t in ticket_ids)
    states = ", ".join(f"'{s.value}'" for s in sorted(SETTLED_STATES))
    return (
        f"WorkflowId IN ({ids}) AND "
        f"({sa.TICKET_STATE.name} IN ({states}) OR ExecutionStatus != 'Running')"
    )


async def settled_among(client: Client, ticket_ids: list[str]) -> set[str]:
    """Which of ``ticket_ids`` rest now, by one visibility request (the page holds them all)."""
    if not ticket_ids:
        return set()
    listing = client.list_workflows(settled_query(ticket_ids), page_size=len(ticket_ids))
    await listing.fetch_next_page()
    return {names.ticket_id_from_workflow_id(e.id) for e in listing.current_page or []}


async def ticket_statuses(client: Client, ticket_ids: list[str]) -> dict[str, TicketView]:
    """The full view of each ticket, a bounded number of queries at a time. A ticket whose
    query failed (no worker answered in time, a passing error) is left out, to be asked again;
    an unknown ticket raises TicketNotFound."""
    gate = asyncio.Semaphore(STATUS_FETCH_CONCURRENCY)

    async def one(ticket_id: str) -> TicketView:
        async with gate:
            return await ticket_status(client, ticket_id)

    results = await asyncio.gather(*(one(t) for t in ticket_ids), return_exceptions=True)
    views = {}
    for ticket_id, result in zip(ticket_ids, results, strict=True):
        if isinstance(result, TicketNotFound):
            raise result
        if isinstance(result, TicketView):
            views[ticket_id] = result
        elif not isinstance(result, (OperationError, RPCError)):
            raise result
    return views


async def wait_settled(
    client: Client,
    ticket_ids: list[str],
    timeout: float,
    interval: float = 0.5,
    *,
    require_worker: bool = False,
) -> dict[str, TicketView]:
    """Wait until every ticket rests: completed, rejected, failed, or waiting for a person (or
    its workflow closed otherwise). Each interval costs one visibility request however many
    tickets wait; each ticket's full view is fetched once, when it rests. Returns what it has
    when ``timeout`` seconds pass (unsettled tickets in their current state). With
    ``require_worker``, raises NoWorker as soon as no worker polls the tickets queue (at once,
    and every WORKER_CHECK_SECONDS while waiting) instead of waiting out the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    views: dict[str, TicketView] = {}
    pending = list(dict.fromkeys(ticket_ids))
    # A ticket at rest whose status query failed (no worker answered, a ticket closed before
    # its first workflow task) is asked again after a backoff, not every interval.
    retry_at: dict[str, tuple[float, float]] = {}
    next_worker_check = loop.time()
    while pending:
        if require_worker and loop.time() >= next_worker_check:
            if not await workers_polling(client):
                raise NoWorker(
                    f"no worker is polling the {names.TICKETS_TASK_QUEUE} task queue, so "
                    f"{len(pending)} ticket(s) wait on the server until one starts: run "
                    "`python worker.py` against this server and namespace"
                )
            next_worker_check = loop.time() + WORKER_CHECK_SECONDS
        watched = pending[:MAX_IDS_PER_VISIBILITY_QUERY]
        now = loop.time()
        rested = await settled_among(client, watched)
        due = [t for t in watched if t in rested and retry_at.get(t, (0.0, 0.0))[0] <= now]
        if due:
            fetched = await ticket_statuses(client, due)
            views.update(fetched)
            for ticket_id in set(due) - set(fetched):
                last = retry_at.get(ticket_id, (0.0, interval / 2))[1]
                backoff = min(last * 2, WORKER_CHECK_SECONDS)
                retry_at[ticket_id] = (now + backoff, backoff)
            pending = [t for t in pending if t not in fetched]
        if pending and loop.time() >= deadline:
            # Out of time: what the rest look like now (which also names an unknown ticket).
            views.update(await ticket_statuses(client, pending))
            break
        if pending:
            await asyncio.sleep(interval)
    return views


async def wait_review_applied(
    client: Client, ticket_id: str, receipt: ReviewReceipt, timeout: float, interval: float = 0.3
) -> TicketView:
    """After a review is accepted: wait until the workflow has acted on it and the ticket rests
    again (a rework goes through the agents and comes back for review)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        view = await ticket_status(client, ticket_id)
        acted = any(
            t.from_state == TicketState.AWAITING_REVIEW and t.at >= receipt.accepted_at
            for t in view.transitions
        )
        if (acted and view.state in SETTLED_STATES) or loop.time() >= deadline:
            return view
        await asyncio.sleep(interval)


def ticket_query(
    state: TicketState | None = None,
    category: Category | None = None,
    priority: Priority | None = None,
) -> str:
    """A visibility query for ticket workflows. Only known enum values reach it (each is parsed
    into its enum first), never free text from a command line or a URL."""
    query = f"WorkflowType = '{names.TICKET_WORKFLOW}'"
    if state is not None:
        query += f" AND {sa.TICKET_STATE.name} = '{TicketState(state).value}'"
        if state not in TERMINAL_STATES:
            query += " AND ExecutionStatus = 'Running'"
    if category is not None:
        query += f" AND {sa.TICKET_CATEGORY.name} = '{Category(category).value}'"
    if priority is not None:
        query += f" AND {sa.TICKET_PRIORITY.name} = '{Priority(priority).value}'"
    return query


async def list_tickets(
    client: Client, state: TicketState | None = None, limit: int | None = None
) -> list[TicketSummary]:
    summaries = []
    async for execution in client.list_workflows(ticket_query(state), limit=limit):
        summaries.append(summary_from_execution(execution, dict(await execution.memo())))
    return summaries


async def ticket_page(
    client: Client,
    query: str,
    page_size: int,
    page_token: bytes | None = None,
) -> tuple[list[TicketSummary], bytes | None]:
    """One page of tickets and the token of the next page (None on the last one)."""
    listing = client.list_workflows(query, page_size=page_size, next_page_token=page_token)
    await listing.fetch_next_page()
    page = [
        summary_from_execution(execution, dict(await execution.memo()))
        for execution in listing.current_page or []
    ]
    return page, listing.next_page_token


def _agent_totals(tickets: list[TicketSummary]) -> dict[str, AgentTotals]:
    totals: dict[str, AgentTotals] = {}
    for ticket in tickets:
        for role, usage in ticket.agents.items():
            total = totals.setdefault(role, AgentTotals())
            total.tokens += usage.tokens
            total.estimated_tokens += usage.estimated_tokens
            total.cost_usd = round(total.cost_usd + usage.cost_usd, 6)
            total.calls += usage.calls
    return totals


def review_queue(tickets: list[TicketSummary]) -> list[TicketSummary]:
    """The tickets waiting for a person, oldest SLA deadline first."""
    return sorted(
        (
            t
            for t in tickets
            if t.state == TicketState.AWAITING_REVIEW
            and t.workflow_status == WorkflowExecutionStatus.RUNNING.name
        ),
        key=lambda t: (t.sla_deadline is None, t.sla_deadline or datetime.min.replace(tzinfo=UTC)),
    )


def build_report(tickets: list[TicketSummary], this_run: set[str] | None = None) -> Report:
    def count(values: list[str | None]) -> dict[str, int]:
        return dict(Counter(v or "-" for v in values).most_common())

    queue = review_queue(tickets)
    return Report(
        total=len(tickets),
        by_state=count([t.state for t in tickets]),
        by_category=count([t.category for t in tickets]),
        by_priority=count([t.priority for t in tickets]),
        review_queue=queue,
        escalated=sum(t.escalated for t in queue),
        tokens=sum(t.tokens for t in tickets),
        cost_usd=round(sum(t.cost_usd for t in tickets), 6),
        calls=sum(t.calls for t in tickets),
        trimmed_tokens=sum(t.trimmed_tokens for t in tickets),
        estimated_tokens=sum(t.estimated_tokens for t in tickets),
        agents=_agent_totals(tickets),
        earlier=None if this_run is None else sum(t.ticket_id not in this_run for t in tickets),
    )


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


async def _trace_of(client: Client, ticket_id: str) -> tuple[str | None, str | None]:
    """The ticket's trace (kept in its view), for the review to link to; best effort."""
    try:
        view = await ticket_status(client, ticket_id)
    except (OperationError, RPCError):
        return None, None
    return view.trace_id, view.trace_span_id


async def _review_linked(
    handle: WorkflowHandle[Any, Any],
    ticket_id: str,
    decision: ReviewDecision,
    ticket_trace: tuple[str | None, str | None],
) -> ReviewReceipt:
    """The review in a trace of its own, linked to the ticket's: a person acting days later is
    related to the ticket's processing, not a step of it."""
    attributes = {"tickets.ticket_id": ticket_id, "tickets.review.action": str(decision.action)}
    with telemetry.linked_span(f"review {ticket_id}", *ticket_trace, attributes):
        return await handle.execute_update(
            names.SUBMIT_REVIEW_UPDATE, decision, result_type=ReviewReceipt
        )


async def submit_review(client: Client, ticket_id: str, decision: ReviewDecision) -> ReviewReceipt:
    handle = _handle(client, ticket_id)
    summary = await describe_ticket(client, ticket_id)
    if summary.workflow_status != WorkflowExecutionStatus.RUNNING.name:
        raise ReviewRefused(
            f"review refused: ticket {ticket_id} is {summary.state}, not awaiting review"
        )
    if not await workers_polling(client):
        raise _no_worker(f"on the {names.TICKETS_TASK_QUEUE} task queue; the review was not sent")
    ticket_trace = await _trace_of(client, ticket_id)
    try:
        return await asyncio.wait_for(
            _review_linked(handle, ticket_id, decision, ticket_trace), REVIEW_TIMEOUT
        )
    except TimeoutError:
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
