"""A ticket whose worker fails the status query is reported as unreadable, naming the ticket
and the worker's message: the HTTP API answers 502 (not an anonymous 500), the console shows
it, and a review still goes out (its trace link is best effort)."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.errors import _OPERATION_STATUS
from shared import names
from shared import operations as ops
from shared.operation_errors import TicketUnreadable
from tests.support.unreadable_ticket_workflow import PROBLEM, UnreadableTicketFake


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
    # The worker's message is encrypted in its failure (the project's failure converter): the
    # error points at the worker's log rather than repeat "Encoded failure".
    assert PROBLEM not in message and "Encoded failure" not in message
    assert "the worker's log says why" in message
    assert trace == (None, None)  # a review would go out without its trace link
    assert dict(_OPERATION_STATUS)[TicketUnreadable] == 502
