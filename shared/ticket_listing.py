"""Listing tickets from the visibility store: the query for a filter or a window, pages, the
review queue (the most urgent of every waiting ticket), and the tickets a report reads. Reads
the visibility records and memos only: no worker is involved."""

from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from policy.transitions import TERMINAL_STATES, TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Category, Priority
from shared.ticket_status import readable_memo
from shared.ticket_summary import TicketSummary, summary_from_execution
from shared.tickets import Ticket, content_digest

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def ticket_query(
    state: TicketState | None = None,
    category: Category | None = None,
    priority: Priority | None = None,
    since: datetime | None = None,
) -> str:
    """A visibility query for ticket workflows. Only known enum values and a datetime reach it
    (each is parsed first), never free text from a command line or a URL. ``since``: started
    at or after it (a naive datetime is UTC)."""
    query = f"WorkflowType = '{names.TICKET_WORKFLOW}'"
    if since is not None:
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        # Within years every store reads (and no zone conversion overflows at year 1 or 9999).
        since = min(max(since, EARLIEST), LATEST).astimezone(UTC)
        query += f" AND StartTime >= '{since.isoformat(timespec='microseconds')[:-6]}Z'"
    if state is not None:
        query += f" AND {sa.TICKET_STATE.name} = '{TicketState(state).value}'"
        if state not in TERMINAL_STATES:
            query += " AND ExecutionStatus = 'Running'"
    if category is not None:
        query += f" AND {sa.TICKET_CATEGORY.name} = '{Category(category).value}'"
    if priority is not None:
        query += f" AND {sa.TICKET_PRIORITY.name} = '{Priority(priority).value}'"
    return query


# The waiting tickets the review queue reads to find the most urgent: the server lists newest
# first and SQL visibility cannot sort by a search attribute, so the queue reads them all (the
# visibility records only; memos are decoded for the tickets shown) up to this many.
REVIEW_SCAN_LIMIT = 20_000


class ReviewQueueRead(BaseModel):
    tickets: list[TicketSummary]  # the most urgent, oldest SLA deadline first (none last)
    waiting: int  # tickets read as waiting (all of them unless ``more``)
    more: bool  # more than REVIEW_SCAN_LIMIT wait: the most urgent of the first read


def deadline_order(deadline: datetime | None) -> tuple[bool, datetime]:
    """The review queue's order: oldest SLA deadline first, none last."""
    return deadline is None, deadline or datetime.min.replace(tzinfo=UTC)


async def review_queue(
    client: Client, shown: int, scan_limit: int = REVIEW_SCAN_LIMIT
) -> ReviewQueueRead:
    """The ``shown`` tickets waiting for a person with the oldest SLA deadlines: the oldest are
    the most overdue, and the server would list them last."""
    waiting = []
    query = ticket_query(TicketState.AWAITING_REVIEW)
    async for execution in client.list_workflows(query, limit=scan_limit + 1):
        waiting.append(execution)
    more = len(waiting) > scan_limit
    waiting = waiting[:scan_limit]
    urgent = sorted(
        waiting, key=lambda e: deadline_order(e.typed_search_attributes.get(sa.TICKET_SLA_DEADLINE))
    )[:shown]
    tickets = [summary_from_execution(e, await readable_memo(e)) for e in urgent]
    return ReviewQueueRead(tickets=tickets, waiting=len(waiting), more=more)


# Workflow ids per visibility request when looking for tickets that hold these ids already, or
# for the newest run of listed tickets.
IDS_PER_QUERY = 100


def _recency(execution: WorkflowExecution) -> tuple[bool, datetime, datetime]:
    """Which of a ticket's runs is the newest: the running one (a workflow id has at most one),
    else the one closed last (a redrive's reset or a restart closes after the run it
    replaces), else the one started last."""
    return (
        execution.status == WorkflowExecutionStatus.RUNNING,
        execution.close_time or EARLIEST,
        execution.start_time or EARLIEST,
    )


async def newest_run_ids(client: Client, workflow_ids: Sequence[str]) -> dict[str, str]:
    """The run id of each ticket workflow's newest run, from every run the server keeps of it.
    Ticket workflow ids match TICKET_ID_PATTERN: no quote reaches the query."""
    ids = sorted(set(workflow_ids))
    newest: dict[str, WorkflowExecution] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        group = ", ".join(f"'{i}'" for i in ids[start : start + IDS_PER_QUERY])
        query = f"WorkflowType = '{names.TICKET_WORKFLOW}' AND WorkflowId IN ({group})"
        async for execution in client.list_workflows(query):
            known = newest.get(execution.id)
            if known is None or _recency(execution) > _recency(known):
                newest[execution.id] = execution
    return {workflow_id: e.run_id for workflow_id, e in newest.items()}


async def newest_runs_only(
    client: Client, executions: Sequence[WorkflowExecution]
) -> list[WorkflowExecution]:
    """``executions`` (in their order) without the runs a newer run of the same ticket
    replaced (a redrive resets a ticket into a new run, a FAILED ticket restarts as one), each
    ticket once. A running run is the newest; for closed ones the server is asked about every
    run of their tickets, so the answer does not depend on the listing's order or window: a run
    listed under a filter (a state) is kept only when it is its ticket's newest."""
    closed = [e.id for e in executions if e.status != WorkflowExecutionStatus.RUNNING]
    newest = await newest_run_ids(client, closed) if closed else {}
    kept, seen = [], set()
    for execution in executions:
        if execution.id in seen:
            continue
        if execution.status == WorkflowExecutionStatus.RUNNING or (
            newest.get(execution.id, execution.run_id) == execution.run_id
        ):
            kept.append(execution)
            seen.add(execution.id)
    return kept


class TicketListing(BaseModel):
    tickets: list[TicketSummary]
    more: bool  # more tickets match than the limit: the newest ``limit`` are listed


async def read_tickets(
    client: Client,
    state: TicketState | None = None,
    limit: int | None = None,
    since: datetime | None = None,
) -> TicketListing:
    """Tickets, newest first, each once: its newest run (a ticket a redrive or a restart ran
    again is listed as its new run, and under a state only when its new run is in it). Their
    visibility records and memos (decoded here, one by one, for the tickets listed only)."""
    kept: list[WorkflowExecution] = []
    chunk: list[WorkflowExecution] = []
    listed: set[str] = set()  # a ticket closing while the listing pages is listed again

    async def check() -> None:
        for execution in await newest_runs_only(client, chunk):
            if execution.id not in listed:
                listed.add(execution.id)
                kept.append(execution)
        chunk.clear()

    async for execution in client.list_workflows(ticket_query(state, since=since)):
        chunk.append(execution)
        if len(chunk) >= IDS_PER_QUERY:
            await check()
            if limit is not None and len(kept) > limit:
                break
    if chunk:
        await check()
    more = limit is not None and len(kept) > limit
    chosen = kept[:limit] if limit is not None else kept
    tickets = [summary_from_execution(e, await readable_memo(e)) for e in chosen]
    return TicketListing(tickets=tickets, more=more)


async def list_tickets(
    client: Client,
    state: TicketState | None = None,
    limit: int | None = None,
    since: datetime | None = None,
) -> list[TicketSummary]:
    """Tickets, newest first, each once (``read_tickets``)."""
    return (await read_tickets(client, state, limit, since)).tickets


# A report reads at most this many tickets (the newest), and counts the ones it left out. Every
# ticket read is a visibility record and a memo to decode: 20,000 take seconds and tens of MB,
# a namespace's whole retention of a busy helpdesk would take minutes. ``since`` picks a window.
REPORT_LIMIT = 20_000


class ReportTickets(BaseModel):
    tickets: list[TicketSummary]
    # Runs in the window not counted as a ticket when REPORT_LIMIT was reached: at most that
    # many tickets (an earlier run that a redrive or a restart replaced is a run of its own).
    left_out: int


async def report_tickets(
    client: Client, since: datetime | None = None, limit: int = REPORT_LIMIT
) -> ReportTickets:
    """The newest ``limit`` tickets started since ``since`` (all when None), each counted once
    (its newest run), and how many more runs there are (one count request, made only when the
    limit was reached)."""
    read = await read_tickets(client, limit=limit, since=since)
    left_out = 0
    if read.more:
        matching = await client.count_workflows(ticket_query(since=since))
        left_out = max(0, matching.count - len(read.tickets))
    return ReportTickets(tickets=read.tickets, left_out=left_out)


async def ticket_page(
    client: Client,
    query: str,
    page_size: int,
    page_token: bytes | None = None,
) -> tuple[list[TicketSummary], bytes | None]:
    """One page of tickets and the token of the next page (None on the last one). Runs a newer
    run of the same ticket replaced are left out (``newest_runs_only``), wherever that newer run
    is listed: a page can hold fewer than ``page_size`` tickets, even none, and still have a
    next page."""
    listing = client.list_workflows(query, page_size=page_size, next_page_token=page_token)
    await listing.fetch_next_page()
    page = [
        summary_from_execution(execution, await readable_memo(execution))
        for execution in await newest_runs_only(client, listing.current_page or [])
    ]
    return page, listing.next_page_token


async def ids_held_by_other_tickets(client: Client, tickets: list[Ticket]) -> set[str]:
    """The ticket ids among ``tickets`` that a ticket with another subject, body or customer
    holds: its newest run's memo's content digest is not this one's, whatever that run's end (a
    failed ticket too: started again under a stranger's content, it would vanish from the
    listings behind it). A batch starts its tickets from a workflow, which cannot compare
    content, so its client asks first. Tickets started before the digest was kept have none:
    the same."""
    wanted = {names.ticket_workflow_id(t.ticket_id): t for t in tickets}
    ids = sorted(wanted)  # ticket ids match TICKET_ID_PATTERN: no quote reaches the query
    held = set()
    for start in range(0, len(ids), IDS_PER_QUERY):
        group = ", ".join(f"'{i}'" for i in ids[start : start + IDS_PER_QUERY])
        query = f"WorkflowType = '{names.TICKET_WORKFLOW}' AND WorkflowId IN ({group})"
        newest: dict[str, WorkflowExecution] = {}
        async for execution in client.list_workflows(query):
            known = newest.get(execution.id)
            if known is None or _recency(execution) > _recency(known):
                newest[execution.id] = execution
        for execution in newest.values():
            ticket = wanted[execution.id]
            earlier = (await readable_memo(execution)).get(sa.MEMO_CONTENT)
            if earlier is not None and earlier != content_digest(ticket):
                held.add(ticket.ticket_id)
    return held
