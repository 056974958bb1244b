"""Listing tickets from the visibility store: the query for a filter or a window, pages, the
review queue (the most urgent of every waiting ticket), and the tickets a report reads. Reads
the visibility records and memos only: no worker is involved."""

from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client

from policy.transitions import TERMINAL_STATES, TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import Category, Priority
from shared.operations import TicketSummary, readable_memo, summary_from_execution
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


async def list_tickets(
    client: Client,
    state: TicketState | None = None,
    limit: int | None = None,
    since: datetime | None = None,
) -> list[TicketSummary]:
    """Tickets, newest first: their visibility records and memos (decoded here, one by one)."""
    summaries = []
    async for execution in client.list_workflows(ticket_query(state, since=since), limit=limit):
        summaries.append(summary_from_execution(execution, await readable_memo(execution)))
    return summaries


# A report reads at most this many tickets (the newest), and counts the ones it left out. Every
# ticket read is a visibility record and a memo to decode: 20,000 take seconds and tens of MB,
# a namespace's whole retention of a busy helpdesk would take minutes. ``since`` picks a window.
REPORT_LIMIT = 20_000


class ReportTickets(BaseModel):
    tickets: list[TicketSummary]
    left_out: int  # tickets in the window beyond REPORT_LIMIT, not read


async def report_tickets(
    client: Client, since: datetime | None = None, limit: int = REPORT_LIMIT
) -> ReportTickets:
    """The newest ``limit`` tickets started since ``since`` (all when None), and how many more
    there are (one count request, made only when the limit was reached)."""
    tickets = await list_tickets(client, limit=limit, since=since)
    left_out = 0
    if len(tickets) >= limit:
        matching = await client.count_workflows(ticket_query(since=since))
        left_out = max(0, matching.count - len(tickets))
    return ReportTickets(tickets=tickets, left_out=left_out)


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
        summary_from_execution(execution, await readable_memo(execution))
        for execution in listing.current_page or []
    ]
    return page, listing.next_page_token


# Workflow ids per visibility request when looking for tickets that hold these ids already.
IDS_PER_QUERY = 100


async def ids_held_by_other_tickets(client: Client, tickets: list[Ticket]) -> set[str]:
    """The ticket ids among ``tickets`` that a ticket with another subject, body or customer
    holds: running or completed (a failed one may be started again), its memo's content digest
    not this one's. A batch starts its tickets from a workflow, which cannot compare content, so
    its client asks first. Tickets started before the digest was kept have none: the same."""
    wanted = {names.ticket_workflow_id(t.ticket_id): t for t in tickets}
    ids = sorted(wanted)  # ticket ids match TICKET_ID_PATTERN: no quote reaches the query
    held = set()
    for start in range(0, len(ids), IDS_PER_QUERY):
        group = ", ".join(f"'{i}'" for i in ids[start : start + IDS_PER_QUERY])
        query = (
            f"WorkflowType = '{names.TICKET_WORKFLOW}' AND WorkflowId IN ({group}) "
            "AND ExecutionStatus IN ('Running', 'Completed')"
        )
        async for execution in client.list_workflows(query):
            ticket = wanted[execution.id]
            earlier = (await readable_memo(execution)).get(sa.MEMO_CONTENT)
            if earlier is not None and earlier != content_digest(ticket):
                held.add(ticket.ticket_id)
    return held
