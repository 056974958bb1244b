"""The embedded server deletes a closed workflow within seconds, as `erase` needs
(starter/embedded.py TRANSFER_ACK_INTERVAL). A closed run's deletion waits until the server has
recorded how far its transfer queue is done, which `start-dev` does every 30 s: `erase` then took
33-35 s for each closed ticket. The server ignores a dynamic-configuration key it does not know,
so this checks the setting took: a bound under the default's 30 s, with room for a slow machine
over the ~4 s measured with it."""

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

# Under the server's default interval (30 s), which a closed run's deletion otherwise waits for.
DELETED_WITHIN_SECONDS = 20


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


async def test_a_closed_workflow_deleted_on_the_embedded_server_is_gone_within_seconds(
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
