"""The review queue past what it reads whole, on the real dev server's visibility store: the
deadline bisection's counts and range filters as the server reads them (shared/ticket_listing.py
``review_queue``)."""

import random
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared import ticket_listing as listing
from tests.support.temporal import wait_until

# Older than any deadline another test's ticket has: these are the most urgent on the server.
LONG_AGO = datetime(1981, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)


async def test_the_oldest_deadlines_are_found_by_counting_on_the_real_server(
    dev_env: WorkflowEnvironment,
) -> None:
    client, prefix = dev_env.client, uuid.uuid4().hex[:6]
    # Ten milliseconds apart: SQL visibility keeps a Datetime attribute to the millisecond.
    deadlines = {f"Q{prefix}-{n}": LONG_AGO + timedelta(milliseconds=10 * n) for n in range(6)}
    handles = []
    for ticket_id in random.sample(sorted(deadlines), len(deadlines)):  # started in any order
        attributes = TypedSearchAttributes(
            [
                SearchAttributePair(sa.TICKET_STATE, TicketState.AWAITING_REVIEW.value),
                SearchAttributePair(sa.TICKET_SLA_DEADLINE, deadlines[ticket_id]),
            ]
        )
        handles.append(
            await client.start_workflow(
                names.TICKET_WORKFLOW,
                "never run: no worker polls this queue",
                id=names.ticket_workflow_id(ticket_id),
                task_queue=f"nobody-{prefix}",
                search_attributes=attributes,
                memo={sa.MEMO_SUBJECT: f"subject of {ticket_id}"},
            )
        )
    ids = ", ".join(f"'{h.id}'" for h in handles)
    visible = f"{listing.ticket_query(TicketState.AWAITING_REVIEW)} AND WorkflowId IN ({ids})"
    try:

        async def all_visible() -> bool:
            return (await client.count_workflows(visible)).count == len(handles)

        await wait_until(all_visible, what="the tickets in the visibility store")
        # More wait than it reads whole (2), and no slack: the bisection narrows the cut down to
        # the four oldest, ten milliseconds apart from the fifth.
        read = await listing.review_queue(client, shown=4, read_all_up_to=2, cut_slack=0)
    finally:
        for handle in handles:
            await handle.terminate("test over")

    assert [t.ticket_id for t in read.tickets] == sorted(deadlines)[:4]
    assert [t.sla_deadline for t in read.tickets] == sorted(deadlines.values())[:4]
    assert read.waiting >= len(deadlines)
