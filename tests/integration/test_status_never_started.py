"""`status` (and the API's GET /tickets/{id}) of a ticket whose workflow closed before any worker
took its first task: terminated while no worker ran. The server refuses a query to such a run,
and its refusal reached the caller as an error (the API answered 503, as if the server were
down); the ticket reads as TERMINATED, NEW last recorded, with its subject. The real dev
server."""

import uuid

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared.ticket_status import read_ticket
from tests.support.tickets import make_ticket, start_ticket


async def test_a_ticket_terminated_before_any_worker_ran_it_reads_as_terminated(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    ticket = make_ticket(subject="Invoice 4411 charged twice")
    handle = await start_ticket(client, f"nobody-{uuid.uuid4().hex[:8]}", ticket)
    await handle.terminate("sent to the wrong queue")

    reading = await read_ticket(client, ticket.ticket_id)

    assert reading.workflow_status == WorkflowExecutionStatus.TERMINATED.name
    assert reading.state == "TERMINATED"
    assert reading.view.state == TicketState.NEW
    assert reading.view.subject == "Invoice 4411 charged twice"
    assert reading.view.ticket_id == ticket.ticket_id
