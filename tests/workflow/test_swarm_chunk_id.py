"""A swarm whose chunk id a workflow still running holds (an earlier run's chunk, after a reset
or a rerun under the swarm's id) fails that chunk's items with the reason and keeps the other
chunks' results (workflows/swarm.py, patch chunk-id-taken-fails-items). On the dev server."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.swarm import SwarmResult, SwarmSettings, SwarmState
from tests.support.fake_fanout import FakeInsights
from tests.support.swarm_run import items, workers
from tests.support.temporal import histories, patch_ids
from tests.support.workers import running
from workflows.swarm import CHUNK_ID_TAKEN_FAILS_ITEMS


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("replay_check")
async def test_a_chunk_whose_id_is_taken_fails_its_items_and_the_rest_carry_on(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Before: the child's start raised WorkflowAlreadyStartedError, which failed the swarm and
    # dropped every other chunk's results.
    swarm_id = f"swarm-{uuid.uuid4().hex[:8]}"
    leftover = await dev_env.client.start_workflow(
        "LeftOverChunk", id=f"{swarm_id}/chunk-0", task_queue=f"nobody-{uuid.uuid4().hex[:6]}"
    )
    settings = SwarmSettings(concurrency=2, chunk_size=2, max_failure_rate=0.5)
    try:
        async with running(workers(dev_env.client, task_queue, FakeInsights())):
            handle = await dev_env.client.start_workflow(
                names.SWARM_WORKFLOW,
                args=[items(4), SwarmState(settings=settings)],
                id=swarm_id,
                task_queue=task_queue,
                result_type=SwarmResult,
            )
            result = await handle.result()
    finally:
        await leftover.terminate("test over")

    assert (result.succeeded, result.failed) == (2, 2)
    assert [f.item_id for f in result.failures] == ["r00000", "r00001"]
    assert all("a workflow with its id is still running" in f.reason for f in result.failures)
    runs = await histories(dev_env.client, handle.id, handle.result_run_id)
    assert any(CHUNK_ID_TAKEN_FAILS_ITEMS in patch_ids(h.events) for h in runs)
