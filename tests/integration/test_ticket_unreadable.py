"""A ticket whose worker fails the status query is reported as unreadable, naming the ticket
(the worker's own message is encrypted by the failure converter: its log says why), and a
review's trace lookup gives up rather than stop the review. The HTTP API's 502 is in
tests/api/test_api.py."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared import operations as ops
from shared.operation_errors import TicketUnreadable
from tests.support.unreadable_ticket_workflow import UnreadableTicketFake


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
            trace = await ops._trace_of(client, ticket_id)
        finally:
            await handle.terminate()

    message = str(raised.value)
    assert f"could not answer the status query for ticket {ticket_id}" in message
    assert "the worker's log says why" in message
    assert trace == (None, None)  # a review would go out without its trace link
