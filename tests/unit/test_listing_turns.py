"""Summaries of many tickets give the event loop turns (shared/ticket_listing.py summaries): a
memo's decoding awaits nothing that suspends, so a report over 20,000 tickets held the API's loop
for seconds and every other request waited. Fake executions stand in for the server's."""

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.common import TypedSearchAttributes

from shared import search_attributes as sa
from shared.ticket_listing import SUMMARIES_PER_TURN, summaries


class FakeExecution(SimpleNamespace):
    async def memo(self) -> dict[str, Any]:
        return {sa.MEMO_SUBJECT: f"subject {self.id}"}


async def test_the_loop_gets_turns_while_summaries_are_made() -> None:
    executions = [
        FakeExecution(
            id=f"ticket-T-{i}",
            status=WorkflowExecutionStatus.COMPLETED,
            typed_search_attributes=TypedSearchAttributes.empty,
            start_time=datetime(2026, 12, 5, tzinfo=UTC),
        )
        for i in range(10 * SUMMARIES_PER_TURN)
    ]
    turns = 0
    done = asyncio.Event()

    async def other_requests() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_requests())
    await asyncio.sleep(0)  # it starts
    started = turns
    made = await summaries(executions)
    done.set()
    await other

    assert [s.ticket_id for s in made] == [f"T-{i}" for i in range(len(executions))]
    assert made[7].subject == "subject ticket-T-7"
    assert turns - started >= 9  # one at least every SUMMARIES_PER_TURN
