"""A ticket whose worker fails the status query is reported as unreadable, naming the ticket
(the worker's own message is encrypted by the failure converter: its log says why), and a
review's trace lookup gives up rather than stop the review. The HTTP API's 502 is in
tests/api/test_api.py."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from policy.transitions import TicketState
from shared import names, review_operations
from shared import operations as ops
from shared.operation_errors import TicketUnreadable
from shared.view import TicketView
from tests.support.unreadable_ticket_workflow import FinishedTicketFake, UnreadableTicketFake


async def test_a_status_query_the_worker_fails_is_reported_as_an_unreadable_ticket(
    dev_env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    ticket_id, queue = f"T-UNREADABLE-{tag}", f"unreadable-{tag}"
    client = dev_env.client
    async with Worker(client, task_queue=queue, workflows=[UnreadableTicketFake]):
        handle = await client.start_workflow(
            UnreadableTicketFake.run, id=names.ticket_workflow_id(ticket_id), task_queue=queue
        )
        try:
            with pytest.raises(TicketUnreadable) as raised:
                await ops.ticket_status(client, ticket_id)
            view = await review_operations._view_of(client, ticket_id)
        finally:
            await handle.terminate()

    message = str(raised.value)
    assert f"could not answer the status query for ticket {ticket_id}" in message
    assert "the worker's log says why" in message
    assert view is None  # a review would go out without its trace link


async def test_a_completed_tickets_status_is_its_result_read_with_no_worker_running(
    dev_env: WorkflowEnvironment,
) -> None:
    """No worker answers, and the status query would fail if asked: the view comes from the
    history's last event."""
    tag = uuid.uuid4().hex[:8]
    ticket_id, queue = f"T-FINISHED-{tag}", f"finished-{tag}"
    client = dev_env.client
    view = TicketView(ticket_id=ticket_id, subject="Invoice", state=TicketState.COMPLETED)
    async with Worker(client, task_queue=queue, workflows=[FinishedTicketFake]):
        await client.execute_workflow(
            FinishedTicketFake.run, view, id=names.ticket_workflow_id(ticket_id), task_queue=queue
        )
    # The worker has stopped.

    assert await ops.ticket_status(client, ticket_id) == view
