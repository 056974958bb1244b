"""Ticket listings when a TicketWorkflow runs under an id the product never makes, on the dev
server: anyone may start one under any id (the Web UI, another program), and one closed run named
"ticket-it's-1" made every listing (`list`, `report`, the API's pages: shared/ticket_listing.py)
a malformed visibility query until retention removed it (a review, 2026-12-07)."""

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.ticket_listing import list_tickets
from tests.support.temporal import wait_until


async def test_a_closed_ticket_workflow_with_a_quote_in_its_id_does_not_stop_the_listing(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    odd = await client.start_workflow(
        names.TICKET_WORKFLOW,
        {"anything": "an input no worker reads"},
        id=f"ticket-it's-{tag}",
        task_queue=f"nobody-{tag}",
    )
    await odd.terminate("started by hand, under an odd id")

    async def listed_closed() -> bool:
        query = f"WorkflowId = 'ticket-it''s-{tag}' AND ExecutionStatus = 'Terminated'"
        return (await client.count_workflows(query)).count == 1

    await wait_until(listed_closed, what="visibility to list the terminated run")
    listed = await list_tickets(client, since=datetime.now(UTC) - timedelta(minutes=5))

    mine = [t for t in listed if tag in t.ticket_id]
    assert len(mine) == 1 and mine[0].workflow_status == WorkflowExecutionStatus.TERMINATED.name
