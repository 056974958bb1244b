"""The review queue shows the waiting tickets with the oldest SLA deadlines, though the server
lists the newest first and cannot sort (shared/ticket_listing.py ``review_queue``). The client here
is a fake standing in for the visibility listing alone; the queue on a real server is in
tests/api/test_api.py."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared import ticket_listing as listing

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class FakeExecution:
    def __init__(self, number: int, deadline: datetime | None) -> None:
        self.id = names.ticket_workflow_id(f"T-{number}")
        self.status = WorkflowExecutionStatus.RUNNING
        self.start_time = T0 + timedelta(minutes=number)
        pairs = [SearchAttributePair(sa.TICKET_STATE, TicketState.AWAITING_REVIEW.value)]
        if deadline is not None:
            pairs.append(SearchAttributePair(sa.TICKET_SLA_DEADLINE, deadline))
        self.typed_search_attributes = TypedSearchAttributes(pairs)
        self.memo_reads = 0

    async def memo(self) -> dict[str, Any]:
        self.memo_reads += 1
        return {sa.MEMO_SUBJECT: f"subject of {self.id}"}


class FakeListingClient:
    """Lists like the server: newest started first, up to ``limit``."""

    def __init__(self, executions: list[FakeExecution]) -> None:
        self.executions = sorted(executions, key=lambda e: e.start_time, reverse=True)

    async def list_workflows(self, query: str, limit: int | None = None) -> AsyncIterator[Any]:
        assert "AWAITING_REVIEW" in query
        for execution in self.executions[:limit]:
            yield execution


def waiting(count: int) -> list[FakeExecution]:
    """Ticket n started n minutes after T0 with a deadline a day after it started; the last
    has no deadline."""
    tickets = [FakeExecution(n, T0 + timedelta(days=1, minutes=n)) for n in range(count - 1)]
    return [*tickets, FakeExecution(count - 1, None)]


async def test_the_oldest_deadlines_are_shown_though_the_server_lists_them_last() -> None:
    executions = waiting(50)
    client = FakeListingClient(executions)

    read = await listing.review_queue(client, shown=5)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets] == ["T-0", "T-1", "T-2", "T-3", "T-4"]
    assert (read.waiting, read.more) == (50, False)
    assert sum(e.memo_reads for e in executions) == 5  # only the shown tickets' memos


async def test_a_ticket_without_a_deadline_comes_last() -> None:
    read = await listing.review_queue(FakeListingClient(waiting(3)), shown=3)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets] == ["T-0", "T-1", "T-2"]
    assert read.tickets[-1].sla_deadline is None


async def test_more_waiting_than_it_reads_is_said() -> None:
    read = await listing.review_queue(
        FakeListingClient(waiting(30)),  # type: ignore[arg-type]
        shown=5,
        scan_limit=20,
    )

    assert (read.waiting, read.more, len(read.tickets)) == (20, True, 5)
