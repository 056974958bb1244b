"""The stalled-tickets gauge's visibility query runs on the real server's visibility store and
counts a running ticket with the agents by its start time (shared/worker_gauges.py)."""

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.view import TicketRequest
from shared.worker_gauges import stalled_query
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket


async def test_a_ticket_no_worker_takes_counts_as_stalled_once_past_the_threshold(
    dev_env: WorkflowEnvironment,
) -> None:
    ticket = make_ticket()
    workflow_id = names.ticket_workflow_id(ticket.ticket_id)
    # On a queue no worker polls: it stays NEW, as behind a provider queue nobody serves.
    handle = await dev_env.client.start_workflow(
        names.TICKET_WORKFLOW,
        TicketRequest(ticket=ticket),
        id=workflow_id,
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(sa.TICKET_STATE, TicketState.NEW.value)]
        ),
    )
    mine = f" AND WorkflowId = '{workflow_id}'"

    async def count(now: datetime, after: timedelta) -> int:
        return (await dev_env.client.count_workflows(stalled_query(now, after) + mine)).count

    try:
        later = datetime.now(UTC) + timedelta(minutes=20)
        await wait_until(lambda: count(later, timedelta(minutes=15)), what="the stalled count")
        assert await count(datetime.now(UTC), timedelta(minutes=15)) == 0
    finally:
        await handle.terminate("test over")
