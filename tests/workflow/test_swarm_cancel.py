"""A cancel request that a chunk absorbs ends the swarm before its next chunk.

Cancelling a swarm cancels the chunk it awaits. A chunk that completes anyway (its last calls
answered as the request came) hands the swarm its results, and temporalio's cancellation of the
swarm is then spent: the swarm went on starting, and paying for, every chunk left, across
continue-as-new. Since ``absorbed-cancel-ends-swarm`` it ends cancelled before the next chunk.

No replay_check fixture: the stand-in chunk's own history would not replay against the real
one. The swarm's history is replayed here, without its children's.
"""

import asyncio
import contextlib
import uuid

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.swarm import ItemResult, SwarmChunkInput, SwarmChunkResult, SwarmItem, SwarmSettings
from tests.support.fake_fanout import FakeInsights
from tests.support.temporal import (
    absorbing_child_waits,
    is_running,
    patch_ids,
    replay_histories,
)
from workflows import ALL_WORKFLOWS
from workflows.swarm import ABSORBED_CANCEL_ENDS_SWARM, SwarmChunkWorkflow


@workflow.defn(name=names.SWARM_CHUNK_WORKFLOW, sandboxed=False)
class CancelAbsorbingChunk:
    """A fake chunk: it waits until it is asked to cancel, then answers its items anyway."""

    @workflow.run
    async def run(self, request: SwarmChunkInput) -> SwarmChunkResult:
        with contextlib.suppress(asyncio.CancelledError):
            await workflow.wait_condition(lambda: False)
        return SwarmChunkResult(
            results=[ItemResult(item_id=i.item_id, ok=True) for i in request.items]
        )


async def test_a_cancel_a_chunk_absorbed_ends_the_swarm_before_its_next_chunk(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    agent = FakeInsights()
    workflows = [w for w in ALL_WORKFLOWS if w is not SwarmChunkWorkflow]
    items = [SwarmItem(item_id=f"r{i}", text=f"review {i}: fine") for i in range(4)]
    settings = SwarmSettings(concurrency=2, chunk_size=2, chunks_per_run=10)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[*workflows, CancelAbsorbingChunk],
        activities=[agent.load_config],
    ):
        handle = await client.start_workflow(
            names.SWARM_WORKFLOW,
            args=[items, {"settings": settings.model_dump()}],
            id=f"swarm-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )
        first = client.get_workflow_handle(f"{handle.id}/chunk-0")
        await absorbing_child_waits(handle, first)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as ended:
            # Before the patch it went on to the next chunk and waited there for good.
            await asyncio.wait_for(handle.result(), timeout=60)
        history = await handle.fetch_history()
        await replay_histories(client, [(handle.id, None)], children=False)
        second_started = await is_running(client.get_workflow_handle(f"{handle.id}/chunk-1"))

    assert isinstance(ended.value.cause, CancelledError)
    assert (await first.describe()).status.name == "COMPLETED"  # the cancel was absorbed
    assert not second_started  # before the patch, the next chunk started (and was paid for)
    started = [
        e
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert len(started) == 1
    assert ABSORBED_CANCEL_ENDS_SWARM in patch_ids(history.events)
