"""The embedded server deletes a workflow that has just closed within seconds, as `erase` right
after tickets close needs (starter/embedded.py TRANSFER_ACK_INTERVAL). Such a run's deletion
waits for the server's next checkpoint of its transfer queue, every 30 s in `start-dev` (its
first 25-35 s after the server starts): `erase` then took 33-35 s. The server ignores a
dynamic-configuration key it does not know, so this checks the setting took: a bound well under
the default's checkpoint, with room for a slow machine over the ~4 s measured with it."""

import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from starter.embedded import EmbeddedServer
from tests.support.processes import free_port
from tests.support.temporal import wait_until

pytestmark = pytest.mark.integration

# Well under the server's default interval (30 s), which a just-closed run's deletion otherwise
# waits for.
DELETED_WITHIN_SECONDS = 10


@workflow.defn(name="ClosesAtOnce")
class ClosesAtOnce:
    @workflow.run
    async def run(self) -> str:
        return "done"


async def gone(client: Client, workflow_id: str, run_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return True
        raise
    return False


async def test_a_workflow_deleted_as_it_closes_on_the_embedded_server_is_gone_within_seconds(
    tmp_path: Path,
) -> None:
    server = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    await server.start()
    try:
        client = await Client.connect(server.address)
        queue = f"deletion-{uuid.uuid4().hex[:6]}"
        async with Worker(
            client,
            task_queue=queue,
            workflows=[ClosesAtOnce],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            handle = await client.start_workflow(
                ClosesAtOnce.run, id=f"closed-{uuid.uuid4().hex[:6]}", task_queue=queue
            )
            assert await handle.result() == "done"
        run_id = (await handle.describe()).run_id
        assert run_id

        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=run_id),
            )
        )
        await wait_until(
            lambda: gone(client, handle.id, run_id),
            timeout=DELETED_WITHIN_SECONDS,
            interval=0.2,
            what=f"{handle.id} deleted (the transfer-queue ack interval not taken?)",
        )
    finally:
        await server.stop()
