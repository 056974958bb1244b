"""Listing tickets from the visibility store: the query for a filter or a window, pages, the
review queue (the most urgent of every waiting ticket), and the tickets a report reads. Reads
the visibility records and memos only: no worker is involved."""

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from policy.review_policy import ReasonCode
from policy.transitions import TERMINAL_STATES, TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Category, Priority
from shared.history_references import UNQUOTABLE
from shared.ticket_status import StoppedState, memo_if_readable, readable_memo
from shared.ticket_summary import TicketSummary, summary_from_execution
from shared.tickets import Ticket, same_content

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _visibility_time(moment: datetime) -> str:
    """A time as visibility queries take it: UTC, to the microsecond, with a Z."""
    return f"{moment.astimezone(UTC).isoformat(timespec='microseconds')[:-6]}Z"


def ticket_query(
    state: TicketState | StoppedState | None = None,
    category: Category | None = None,
    priority: Priority | None = None,
    since: datetime | None = None,
    why: ReasonCode | None = None,
) -> str:
    """A visibility query for ticket workflows. Only known enum values and a datetime reach it
    (each is parsed first), never free text from a command line or a URL. ``since``: started
    at or after it (a naive datetime is UTC); ``why``: waiting for review for that reason."""
    query = f"WorkflowType = '{names.TICKET_WORKFLOW}'"
    if since is not None:
        since = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        # Within years every store reads (and no zone conversion overflows at year 1 or 9999).
        since = min(max(since, EARLIEST), LATEST).astimezone(UTC)
        query += f" AND StartTime >= '{_visibility_time(since)}'"
    if isinstance(state, StoppedState):
        query += f" AND ExecutionStatus = '{state.execution_status}'"
    elif state is not None:
        query += f" AND {sa.TICKET_STATE.name} = '{TicketState(state).value}'"
        if state not in TERMINAL_STATES:
            query += " AND ExecutionStatus = 'Running'"
    if category is not None:
        query += f" AND {sa.TICKET_CATEGORY.name} = '{Category(category).value}'"
    if priority is not None:
        query += f" AND {sa.TICKET_PRIORITY.name} = '{Priority(priority).value}'"
    if why is not None:
        query += f" AND {sa.TICKET_REVIEW_REASONS.name} = '{ReasonCode(why).value}'"
    return query


# Up to this many waiting tickets the review queue reads them all (one page of visibility
# records; memos are decoded for the tickets shown only) and sorts them. SQL visibility cannot
# sort by a search attribute and lists the newest first, so past it the queue finds the oldest
# deadlines by counting: one count request per step of a bisection on the deadline (a
# millisecond each on the embedded server), then it reads the tickets before the cut only.
REVIEW_READ_ALL = 1_000
# The cut is good enough once this many tickets more than those shown fall before it.
REVIEW_CUT_SLACK = 100
# SQL visibility stores a Datetime attribute to the millisecond: a finer cut tells nothing apart.
DEADLINE_RESOLUTION = timedelta(milliseconds=1)


class ReviewQueueRead(BaseModel):
    tickets: list[TicketSummary]  # the most urgent, oldest SLA deadline first (none last)
    waiting: int  # every ticket waiting for a person (a count)


def deadline_order(deadline: datetime | None) -> tuple[bool, datetime]:
    """The review queue's order: oldest SLA deadline first, none last."""
    return deadline is None, deadline or datetime.min.replace(tzinfo=UTC)


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _most_urgent(
    client: Client, query: str, shown: int, slack: int
) -> list[WorkflowExecution]:
    """Waiting tickets that include the ``shown`` with the oldest deadlines, found by bisecting
    on the deadline with counts; those without a deadline when fewer than ``shown`` have one."""
    field = sa.TICKET_SLA_DEADLINE.name

    def between(low: datetime, high: datetime) -> str:
        return (
            f"{query} AND {field} >= '{_visibility_time(low)}' "
            f"AND {field} < '{_visibility_time(high)}'"
        )

    # Fewer than ``shown`` before ``low``; at least ``shown`` before ``high`` (unless fewer have
    # a deadline at all). The smallest such cut to the millisecond at worst (SQL visibility
    # keeps a deadline to the millisecond; about 48 counts); most stop sooner, once at most
    # ``slack`` more than ``shown`` fall before it.
    low, high = EARLIEST, LATEST
    dated = await _count(client, between(low, high))
    if dated > shown + slack:
        while high - low > DEADLINE_RESOLUTION:
            middle = low + (high - low) / 2
            found = await _count(client, between(EARLIEST, middle))
            if found < shown:
                low = middle
            elif found > shown + slack:
                high = middle
            else:
                high = middle
                break
    # All of those before ``low``; then the band up to ``high`` (all of it, unless the bisection
    # ended on a millisecond that many tickets share: any of those are as urgent). The lists are
    # read after the counts: tickets reviewed meanwhile are missing, new ones may be there.
    limit = shown + slack
    earlier = []
    if low > EARLIEST:
        earlier = [e async for e in client.list_workflows(between(EARLIEST, low), limit=limit)]
    band = [e async for e in client.list_workflows(between(low, high), limit=limit)]
    found_dated = earlier + band
    if high < LATEST or len(found_dated) >= shown:
        # A cut was made: dated tickets past it are more urgent than any without a deadline.
        return found_dated
    undated = f"{query} AND {field} IS NULL"
    return found_dated + [
        e async for e in client.list_workflows(undated, limit=shown - len(found_dated))
    ]


async def review_queue(
    client: Client,
    shown: int,
    read_all_up_to: int = REVIEW_READ_ALL,
    cut_slack: int = REVIEW_CUT_SLACK,
    why: ReasonCode | None = None,
) -> ReviewQueueRead:
    """The ``shown`` tickets waiting for a person with the oldest SLA deadlines: the oldest are
    the most overdue, and the server would list them last. How many wait is counted. ``why``:
    only those waiting for that reason (TicketReviewReasons)."""
    query = ticket_query(TicketState.AWAITING_REVIEW, why=why)
    waiting = await _count(client, query)
    found = []
    if waiting <= read_all_up_to:
        # One more than it reads whole: more may have come since the count.
        found = [e async for e in client.list_workflows(query, limit=read_all_up_to + 1)]
    if waiting > read_all_up_to or len(found) > read_all_up_to:
        found = await _most_urgent(client, query, shown, cut_slack)
    urgent = sorted(
        found, key=lambda e: deadline_order(e.typed_search_attributes.get(sa.TICKET_SLA_DEADLINE))
    )[:shown]
    tickets = await summaries(urgent)
    # The count and the listing are read one after the other: never say fewer than were read.
    return ReviewQueueRead(tickets=tickets, waiting=max(waiting, len(found)))


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
    Ids the product makes match TICKET_ID_PATTERN, but anyone may start a TicketWorkflow under
    any id (the Web UI, another program): one a visibility query cannot quote is left out, its
    run taken as its own newest; once, one closed run named "ticket-it's-1" made every listing
    (list, report, the API's pages) a malformed query until retention removed it."""
    ids = sorted({i for i in workflow_ids if not any(c in i for c in UNQUOTABLE)})
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
    state: TicketState | StoppedState | None = None,
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
    tickets = await summaries(chosen)
    return TicketListing(tickets=tickets, more=more)


# Summaries made between two turns of the event loop: a memo's decoding awaits nothing that
# suspends (its codec and converter run in place), so 20,000 of them for a report held the API's
# loop 3.4 s, and every other request (intake, reviews, /readyz) waited.
SUMMARIES_PER_TURN = 100


async def summaries(executions: Iterable[WorkflowExecution]) -> list[TicketSummary]:
    """Each execution's summary, from its memo when this process can read it; the event loop
    gets a turn every SUMMARIES_PER_TURN."""
    made = []
    for n, execution in enumerate(executions, start=1):
        made.append(summary_from_execution(execution, await memo_if_readable(execution)))
        if n % SUMMARIES_PER_TURN == 0:
            await asyncio.sleep(0)
    return made


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
    page = await summaries(await newest_runs_only(client, listing.current_page or []))
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
            if earlier is not None and not same_content(earlier, ticket):
                held.add(ticket.ticket_id)
    return held


# How many of the server's tickets a process without a key ring reads to find encrypted ones.
ENCRYPTED_CHECK_TICKETS = 20


async def first_undecryptable_ticket(
    client: Client, limit: int = ENCRYPTED_CHECK_TICKETS, running: bool = False
) -> str | None:
    """The id of a ticket (among the server's first ``limit``; with ``running``, of those still
    running) whose memo ``client`` cannot decrypt, if any: a server holding tickets of a key
    ring other than this process's."""
    query = f"WorkflowType = '{names.TICKET_WORKFLOW}'"
    if running:
        query += " AND ExecutionStatus = 'Running'"
    async for execution in client.list_workflows(query, limit=limit):
        if await memo_if_readable(execution) is None:
            return names.ticket_id_from_workflow_id(execution.id)
    return None
