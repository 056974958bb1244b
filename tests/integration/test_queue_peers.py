"""Two worker processes' pollers on one provider queue, on the dev server: an activity on that
queue counts both (activities/providers/peers.py), so each worker paces half the rate."""

import uuid

from temporalio import activity
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.providers.peers import QueuePeers, queue_pollers
from activities.queue_rate import ACTIVITY_QUEUE
from tests.support.peer_count_workflow import ACTIVITY, PeerCountProbe
from tests.support.temporal import wait_until


@activity.defn(name=ACTIVITY)
async def count_queue_peers() -> dict[str, object]:
    peers = QueuePeers()
    await peers.refresh(False, 10.0)  # idle: both poll, neither has work
    return {"count": peers.count, "identities": sorted({i for i, _ in await queue_pollers()})}


async def listed(client: Client, queue: str) -> set[str]:
    """The identities the server lists as polling ``queue`` (a worker is listed once its first
    poll arrived)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=ACTIVITY_QUEUE,
        )
    )
    return {p.identity for p in response.pollers}


async def test_an_activity_counts_both_workers_polling_its_queue(
    dev_env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    provider_queue, workflow_queue = f"llm-peers-{tag}", f"peers-wf-{tag}"
    first = dev_env.client
    # A worker per client: the SDK allows one worker per queue and client, as per process.
    second = await Client.connect(first.service_client.config.target_host)
    a, b = f"a-{tag}@test", f"b-{tag}@test"
    async with (
        Worker(first, task_queue=workflow_queue, workflows=[PeerCountProbe]),
        Worker(first, task_queue=provider_queue, activities=[count_queue_peers], identity=a),
        Worker(second, task_queue=provider_queue, activities=[count_queue_peers], identity=b),
    ):

        async def both_listed() -> bool:
            return {a, b} <= await listed(first, provider_queue)

        await wait_until(both_listed, timeout=30.0, what="both workers listed as polling")
        result = await first.execute_workflow(
            PeerCountProbe.run, provider_queue, id=f"peers-{tag}", task_queue=workflow_queue
        )
    assert result == {"count": 2, "identities": [a, b]}
