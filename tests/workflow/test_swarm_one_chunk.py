"""A swarm's sizing version decided first, a swarm of one chunk running its window itself, and
the results read from a swarm's own calls (split from test_swarm.py)."""

import asyncio
import json
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.agents import AgentReply, Usage
from shared.swarm import (
    InsightRequest,
    ReviewInsights,
    SwarmProgress,
    SwarmSettings,
)
from starter import swarm_outputs
from tests.support.fake_fanout import FakeInsights
from tests.support.swarm_run import items, start, workers
from tests.support.temporal import histories, patch_ids, wait_until
from tests.support.workers import running


@pytest.mark.usefixtures("replay_check")
async def test_a_swarm_decides_its_sizing_version_before_its_configuration_snapshot(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The sizing patches were asked right after the snapshot's local-activity marker in the same
    # workflow task, a shape that does not replay reliably (workflows/ticket_patches.py).
    async with running(workers(ts_env.client, task_queue, FakeInsights())):
        handle = await start(ts_env.client, task_queue, items(3), SwarmSettings(concurrency=3))
        await handle.result()
    markers = [
        (e.event_id, e.marker_recorded_event_attributes)
        async for e in handle.fetch_history_events()
        if e.HasField("marker_recorded_event_attributes")
    ]
    patches = [
        (event_id, json.loads(m.details["patch-data"].payloads[0].data)["id"])
        for event_id, m in markers
        if m.marker_name == "core_patch"
    ]
    local = [event_id for event_id, m in markers if m.marker_name == "core_local_activity"]
    # single-chunk-inline is asked there too (three items: one chunk).
    assert [name for _, name in patches] == ["sizes-decided-first", "single-chunk-inline"]
    assert all(event_id < local[0] for event_id, _ in patches)


@dataclass
class HeldInsights(FakeInsights):
    """FakeInsights, whose items with "<held>" in their text wait for ``release``."""

    release: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        if "<held>" in request.item.text:
            await self.release.wait()
        return await super().analyze(request)


@pytest.mark.usefixtures("replay_check")
async def test_a_swarm_of_one_chunk_runs_its_items_itself_and_counts_them_as_they_end(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The chunk child's start, its first workflow task and its result's hop back were ~40 ms of
    # a swarm of 0.5 s calls and a billable action: a swarm that fits one chunk runs its window
    # in its own workflow (single-chunk-inline), and its progress counts items as they end.
    agent = HeldInsights()
    swarm = items(4, bad={0})
    swarm[3] = swarm[3].model_copy(update={"text": "review 3: <held> works well"})
    async with running(workers(ts_env.client, task_queue, agent)):
        settings = SwarmSettings(concurrency=4, max_failure_rate=0.5)
        handle = await start(ts_env.client, task_queue, swarm, settings)

        async def three_done() -> SwarmProgress | None:
            progress = await handle.query(names.PROGRESS_QUERY, result_type=SwarmProgress)
            return progress if progress.done == 3 else None

        progress = await wait_until(three_done, what="three items done")
        agent.release.set()
        result = await handle.result()
        everything = await histories(ts_env.client, handle.id, handle.result_run_id)

    assert (progress.total, progress.done, progress.failed) == (4, 3, 1)
    assert progress.running_chunk is None
    assert (result.total, result.succeeded, result.failed) == (4, 3, 1)
    assert [r.item_id for r in result.outputs] == [i.item_id for i in swarm]
    assert agent.calls == 4
    [only] = everything  # no chunk child
    kinds = [e.WhichOneof("attributes") for e in only.events]
    assert "start_child_workflow_execution_initiated_event_attributes" not in kinds
    assert kinds.count("activity_task_scheduled_event_attributes") == 4
    assert "single-chunk-inline" in patch_ids(only.events)


@dataclass
class FirstRouteSpends(FakeInsights):
    """FakeInsights on two routes: the first fails every item for good after spending (its
    usage in the failure's details, as a provider's answer that failed validation), the second
    answers."""

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        if request.route is not None and request.route.model == "model-0":
            self.calls += 1
            spent = Usage(
                provider=request.route.provider, model="model-0", input_tokens=7, cost_usd=0.25
            )
            raise ApplicationError(
                "the answer failed validation",
                spent.model_dump(mode="json"),
                type="InvalidOutput",
                non_retryable=True,
            )
        return await super().analyze(request)


@pytest.mark.usefixtures("replay_check")
async def test_the_results_read_from_a_swarms_own_calls_are_the_ones_it_reported(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A swarm of one chunk keeps its results in its own calls' events, not in a chunk's result:
    # `--output` after a failure over the threshold, and a rerun keeping what was paid for,
    # read them from there, and must bill what the failed first route spent too.
    from shared.agents import AgentRole
    from tests.support.fakes import fake_routes_config

    base = fake_routes_config()
    first = base.routes[AgentRole.INSIGHTS][0]
    two = [first.model_copy(update={"model": f"model-{i}"}) for i in range(2)]
    config = base.model_copy(update={"routes": {**base.routes, AgentRole.INSIGHTS: two}})
    agent = FirstRouteSpends(config=config)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, items(3), SwarmSettings(concurrency=3))
        result = await handle.result()
    read = await swarm_outputs.run_results(ts_env.client, handle.id, handle.result_run_id)

    assert agent.calls == 6 and result.succeeded == 3
    assert {r.item_id: r for r in read} == {r.item_id: r for r in result.outputs}
    assert all(r.usage is not None and r.usage.input_tokens == 17 for r in read), read
