"""The review queue shows the waiting tickets with the oldest SLA deadlines, though the server
lists the newest first and cannot sort (shared/ticket_listing.py ``review_queue``). The client here
is a fake standing in for the visibility listing and count alone (the queue's two deadline
filters included); the queue on a real server is in tests/api/test_api.py and
tests/integration/test_review_queue_cut.py."""

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
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
    """Lists like the server: newest started first, up to ``limit``; counts; and reads the two
    deadline filters the queue adds (``TicketSlaDeadline < '...'``, ``TicketSlaDeadline IS
    NULL``)."""

    def __init__(self, executions: list[FakeExecution]) -> None:
        self.executions = sorted(executions, key=lambda e: e.start_time, reverse=True)
        self.listed = 0
        self.counts = 0

    def _matching(self, query: str) -> list[FakeExecution]:
        assert "AWAITING_REVIEW" in query
        field = sa.TICKET_SLA_DEADLINE.name
        found = self.executions

        def moment(pattern: str) -> datetime | None:
            if (match := re.search(pattern, query)) is None:
                return None
            return datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))

        if (before := moment(rf"{field} < '([^']+)'")) is not None:
            found = [e for e in found if (d := deadline(e)) is not None and d < before]
        if (start := moment(rf"{field} >= '([^']+)'")) is not None:
            found = [e for e in found if (d := deadline(e)) is not None and d >= start]
        if f"{field} IS NULL" in query:
            found = [e for e in found if deadline(e) is None]
        return found

    async def list_workflows(self, query: str, limit: int | None = None) -> AsyncIterator[Any]:
        for execution in self._matching(query)[:limit]:
            self.listed += 1
            yield execution

    async def count_workflows(self, query: str) -> Any:
        self.counts += 1
        return type("Count", (), {"count": len(self._matching(query))})()


def deadline(execution: FakeExecution) -> datetime | None:
    return execution.typed_search_attributes.get(sa.TICKET_SLA_DEADLINE)


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
    assert read.waiting == 50
    assert sum(e.memo_reads for e in executions) == 5  # only the shown tickets' memos


async def test_a_ticket_without_a_deadline_comes_last() -> None:
    read = await listing.review_queue(FakeListingClient(waiting(3)), shown=3)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets] == ["T-0", "T-1", "T-2"]
    assert read.tickets[-1].sla_deadline is None


@pytest.mark.parametrize("count", [300, 5_000])
async def test_past_what_it_reads_whole_it_finds_the_oldest_deadlines_by_counting(
    count: int,
) -> None:
    client = FakeListingClient(waiting(count))

    read = await listing.review_queue(client, shown=5, read_all_up_to=20)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets] == ["T-0", "T-1", "T-2", "T-3", "T-4"]
    assert read.waiting == count
    # Not every ticket read: those before the cut, at most REVIEW_CUT_SLACK more than shown.
    assert client.listed <= 5 + 5 + listing.REVIEW_CUT_SLACK and client.counts <= 60


async def test_past_what_it_reads_whole_tickets_without_a_deadline_fill_the_rest() -> None:
    executions = [FakeExecution(n, None) for n in range(40)]
    executions += [FakeExecution(100 + n, T0 + timedelta(days=n)) for n in range(2)]
    client = FakeListingClient(executions)

    read = await listing.review_queue(client, shown=5, read_all_up_to=20)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets][:2] == ["T-100", "T-101"]
    assert [t.sla_deadline for t in read.tickets][2:] == [None, None, None]
    assert (read.waiting, len(read.tickets)) == (42, 5)


async def test_many_tickets_sharing_the_cut_s_deadline_still_leave_the_older_ones_first() -> None:
    # The bisection ends on a microsecond 297 tickets share: the 3 before it still come first.
    executions = [FakeExecution(n, T0 + timedelta(hours=n)) for n in range(3)]
    executions += [FakeExecution(100 + n, T0 + timedelta(days=2)) for n in range(297)]
    client = FakeListingClient(executions)

    read = await listing.review_queue(client, shown=5, read_all_up_to=20)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets][:3] == ["T-0", "T-1", "T-2"]
    assert [t.sla_deadline for t in read.tickets][3:] == [T0 + timedelta(days=2)] * 2
    assert read.waiting == 300


class FakeStaleCountClient(FakeListingClient):
    """The first count reads a visibility store that has not seen the newest tickets yet."""

    def __init__(self, executions: list[FakeExecution], stale: int) -> None:
        super().__init__(executions)
        self.stale: int | None = stale

    async def count_workflows(self, query: str) -> Any:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return type("Count", (), {"count": stale})()
        return await super().count_workflows(query)


async def test_tickets_come_between_the_count_and_the_read_the_oldest_are_still_found() -> None:
    # Counted 20 (read whole), listed 30 newest first: a read of 20 dropped the oldest ten,
    # the most overdue, and said 20 waiting.
    client = FakeStaleCountClient(waiting(30), stale=20)

    read = await listing.review_queue(client, shown=5, read_all_up_to=20)  # type: ignore[arg-type]

    assert [t.ticket_id for t in read.tickets] == ["T-0", "T-1", "T-2", "T-3", "T-4"]
