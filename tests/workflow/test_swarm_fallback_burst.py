"""A swarm whose long items all fail their first route at once schedules their next routes in
groups that fit one workflow task's message: 100 items of 20,000 Chinese characters (62 KB each)
put 6 MB of fallback calls in one task, over the server's 4 MB limit, and the swarm was
terminated. On the dev server, whose message limit is the real one."""

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.agents import AgentReply, AgentRole, AgentRoute, Usage
from shared.pipeline_config import PipelineConfig
from shared.swarm import InsightRequest, ReviewInsights, Sentiment, SwarmItem, SwarmSettings
from tests.support.fake_fanout import permanent
from tests.support.swarm_run import start
from tests.support.temporal import histories, patch_ids, wait_until
from tests.support.workers import running
from workflows import ALL_WORKFLOWS
from workflows.swarm_window import BOUNDED_FALLBACK_BURSTS

ITEMS = 100
FAILED = EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED


@dataclass
class FirstRouteFails:
    """The swarm's agent on two providers: a long item's call on the first fails for good once
    ``release`` is set; the rest answer."""

    first: AgentRoute = field(default_factory=lambda: _route("first"))
    second: AgentRoute = field(default_factory=lambda: _route("second"))
    release: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: set[str] = field(default_factory=set)  # the items whose first call waits

    @property
    def config(self) -> PipelineConfig:
        return PipelineConfig(routes={role: [self.first, self.second] for role in AgentRole})

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_config(self) -> PipelineConfig:
        return self.config

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        assert request.route is not None
        if request.route.provider == self.first.provider and len(request.item.text) > 100:
            self.waiting.add(request.item.item_id)
            while not self.release.is_set():  # heartbeating, as a call waiting on a model
                activity.heartbeat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.release.wait(), 1.0)
            raise permanent("the first route is down")
        if request.item.item_id.startswith("s"):
            # The short ones end a tenth of a second apart: each refills the window.
            await asyncio.sleep(0.1 * int(request.item.item_id[1:]))
        return AgentReply(
            output=ReviewInsights(sentiment=Sentiment.POSITIVE, key_points=["fine"]),
            usage=Usage(
                provider=request.route.provider,
                model=request.route.model,
                input_tokens=10,
                output_tokens=2,
            ),
        )


def _route(name: str) -> AgentRoute:
    return AgentRoute(provider=f"fake{name}{uuid.uuid4().hex[:6]}", model="fake-model")


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("replay_check")
async def test_long_items_failing_their_first_route_together_fall_back_in_groups_that_fit(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    agent = FirstRouteFails()
    calls = [
        Worker(
            client,
            task_queue=names.llm_task_queue(route.provider),
            activities=[agent.analyze],
            max_concurrent_activities=ITEMS,
        )
        for route in (agent.first, agent.second)
    ]

    def workflows() -> Worker:
        return Worker(
            client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=[agent.load_config]
        )

    # The window starts its calls in groups that fit a message (33 of these long items) and
    # refills as calls end: short items first, so that every long one is in flight at once.
    # 130 items in all: one chunk (a chunk's history holds 135 of the long ones on two routes).
    short = [SwarmItem(item_id=f"s{i:03d}", text=f"review {i}: fine") for i in range(30)]
    long_items = [SwarmItem(item_id=f"zh{i:03d}", text="中" * 20_000) for i in range(ITEMS)]
    settings = SwarmSettings(concurrency=ITEMS)
    async with running(calls):
        async with running([workflows()]):
            handle = await start(client, task_queue, short + long_items, settings)
            await wait_until(
                lambda: len(agent.waiting) == ITEMS, what="every first call", timeout=60
            )
        # With no workflow worker, every failure waits for one workflow task.
        agent.release.set()

        async def all_failed() -> bool:
            events = (await handle.fetch_history()).events
            return sum(e.event_type == FAILED for e in events) == ITEMS

        await wait_until(all_failed, what="every first call failed", timeout=60)
        async with running([workflows()]):
            result = await handle.result()

    assert (result.succeeded, result.failed) == (len(short) + ITEMS, 0)
    [only] = await histories(client, handle.id, handle.result_run_id)
    assert BOUNDED_FALLBACK_BURSTS in patch_ids(only.events)
    # The next routes went out at most 1 MiB a task (and one item over), in several: with a
    # task's new calls (at most 2 MiB), under the server's 4 MB.
    second = names.llm_task_queue(agent.second.provider)
    per_task = [b for b in next_route_bytes(only.events, second) if b]
    assert sum(per_task) > 6_000_000 and len(per_task) >= 6
    assert max(per_task) <= 1_048_576 + 70_000, per_task


def next_route_bytes(events: Sequence[HistoryEvent], queue: str) -> list[int]:
    """The bytes of the calls scheduled on ``queue`` by each workflow task (the commands a
    task completed with follow its completed event)."""
    per_task: list[int] = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            per_task.append(0)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.task_queue.name == queue:
                per_task[-1] += scheduled.input.ByteSize()
    return per_task
