"""Reading tickets: one ticket with the customer's message, lists, the review queue, the report.
A token with the read role may (review and admin include it; an intake token does not: a leaked
helpdesk token must not expose every customer's text)."""

import asyncio
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BeforeValidator

from api.accounts import Account
from api.customer_message import InputUnreadable, customer_ticket
from api.deps import read_allowed, report_allowed, temporal
from api.errors import ApiError, responses
from api.models import CustomerMessage, ReviewQueue, TicketDetail, TicketPage, TicketStatus
from api.page_tokens import PageTokenError, PageTokens
from api.temporal import TemporalConnection
from policy.review_policy import ReasonCode
from shared import report as reports
from shared import ticket_listing as listing
from shared.agents import Category, Priority
from shared.ticket_status import ListedState, listed_state, read_ticket
from shared.tickets import TICKET_ID_PATTERN
from shared.time_window import since_moment

router = APIRouter(tags=["tickets"])

# Each read takes one from the token's read allowance (api/settings.py); the report has its own.
Reader = Annotated[Account, Depends(read_allowed)]
# The connection, not a client: a route connects only once its input is valid, so a request with
# a bad field gets its 422 while Temporal is down too (FastAPI resolves dependencies first).
Temporal = Annotated[TemporalConnection, Depends(temporal)]
TicketIdPath = Annotated[str, Path(pattern=TICKET_ID_PATTERN, description="the ticket's id")]
# The queue is read whole and sorted here (visibility stores other than Elasticsearch cannot
# order by a custom attribute); a team with more waiting than this has a bigger problem.
REVIEW_QUEUE_LIMIT = 1_000
MAX_PAGE_TOKEN_CHARS = 4_096


@router.get(
    "/tickets/{ticket_id}",
    response_model=TicketDetail,
    responses=responses(401, 403, 404, 422, 429, 502, 503),
    summary="one ticket: the customer's message and the workflow's view",
)
async def get_ticket(ticket_id: TicketIdPath, _: Reader, connection: Temporal) -> TicketDetail:
    client = await connection.client()
    reading = await read_ticket(client, ticket_id)
    # The message of the run read, not of whichever run is newest by now.
    try:
        ticket = await customer_ticket(client, ticket_id, reading.run_id)
        message, problem = CustomerMessage.of(ticket), None
    except InputUnreadable as err:
        message, problem = None, str(err)
    return TicketDetail(
        ticket_id=ticket_id,
        message=message,
        message_problem=problem,
        status=TicketStatus.of(reading),
        workflow_status=reading.workflow_status,
        earlier_runs=reading.earlier_runs,
        pending_calls=list(reading.pending),
    )


def any_case(enum: type[StrEnum]) -> BeforeValidator:
    """A filter's value in any case and with spaces around it (`state=awaiting_review`,
    `category=billing`), as the CLI reads them; the schema still lists the values as written,
    and anything else is a 422 naming them."""
    by_fold = {member.value.casefold(): member.value for member in enum}

    def read(value: object) -> object:
        if isinstance(value, str):
            return by_fold.get(value.strip().casefold(), value)
        return value

    return BeforeValidator(read)


@router.get(
    "/tickets",
    response_model=TicketPage,
    responses=responses(400, 401, 403, 422, 429, 503),
    summary="tickets, running ones first, filtered by state, category and priority",
    description=(
        "In the server's listing order: running tickets (the most recently started first), then "
        "closed ones (the most recently closed first). Each ticket as its newest run: a run that "
        "a redrive's reset or a restart replaced is left out on whatever page the server lists "
        "it (and under a `state` when only that old run is in it), so a page can hold fewer "
        "than `page_size` tickets, even none, and still have a `next_page_token`. A ticket that "
        "closes between two pages moves to the closed ones and can be listed again: deduplicate "
        "by `ticket_id`. A ticket publishes its state, category and priority when it waits or "
        "ends, not between agents: one still with the agents lists as NEW (RESOLVING after a "
        "rework), with no category or priority yet; its own page shows its stage."
    ),
)
async def list_tickets(
    request: Request,
    _: Reader,
    connection: Temporal,
    state: Annotated[ListedState | None, any_case(ListedState)] = None,
    category: Annotated[Category | None, any_case(Category)] = None,
    priority: Annotated[Priority | None, any_case(Priority)] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=MAX_PAGE_TOKEN_CHARS)] = None,
) -> TicketPage:
    query = listing.ticket_query(listed_state(state.value) if state else None, category, priority)
    tokens: PageTokens = request.app.state.page_tokens
    try:
        raw = tokens.open(query, page_token) if page_token else None
    except PageTokenError as err:
        raise ApiError(400, str(err)) from None
    client = await connection.client()
    tickets, token = await listing.ticket_page(client, query, page_size, raw)
    return TicketPage(tickets=tickets, next_page_token=tokens.seal(query, token) if token else None)


@router.get(
    "/review-queue",
    response_model=ReviewQueue,
    responses=responses(400, 401, 403, 422, 429, 503),
    summary="tickets waiting for a person, oldest SLA deadline first",
)
async def review_queue(
    _: Reader, connection: Temporal, why: ReasonCode | None = None
) -> ReviewQueue:
    """``why``: only the tickets waiting for that reason (docs/lifecycle.md lists the codes)."""
    client = await connection.client()
    read = await listing.review_queue(client, REVIEW_QUEUE_LIMIT, why=why)
    queue = read.tickets  # in the queue's order already
    return ReviewQueue(
        tickets=queue,
        escalated=sum(t.escalated for t in queue),
        truncated=read.waiting > len(queue),
    )


@router.get(
    "/report",
    response_model=reports.Report,
    responses=responses(401, 403, 422, 429, 503),
    summary="counts by state, category and priority; the review queue; usage and cost (the "
    f"newest {listing.REPORT_LIMIT:,} tickets, since a time if given)",
)
async def report(
    _: Annotated[Account, Depends(report_allowed)],
    connection: Temporal,
    since: Annotated[
        str | None,
        Query(
            description="only tickets started at or after this time (ISO 8601; no zone: UTC), "
            "or within a span back from now (90m, 24h, 7d), as the CLI's `report --since`",
            max_length=64,
        ),
    ] = None,
) -> reports.Report:
    try:
        start = since_moment(since) if since is not None else None
    except ValueError as err:
        raise ApiError(422, f"since: {err}", [f"field 'since': {err}"]) from None
    read = await listing.report_tickets(await connection.client(), start)
    # Counting 20,000 summaries is CPU: in a thread, so the loop keeps answering meanwhile.
    return await asyncio.to_thread(
        reports.build_report, read.tickets, since=start, left_out=read.left_out
    )
