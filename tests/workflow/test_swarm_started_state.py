"""A swarm started (not continued as new) with a later run's routes and timeouts in its state, by
a client other than the CLI, is a first run all the same: its calls take the configured routes
from the configuration snapshot. It took the routes it was given, any provider and model on the
deployment's keys (patch started-run-is-first)."""

import uuid
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.agents import AgentReply, AgentRole, AgentRoute
from shared.pipeline_config import AgentTimeouts
from shared.swarm import InsightRequest, ReviewInsights, SwarmResult, SwarmSettings, SwarmState
from tests.support.fake_fanout import FakeInsights
from tests.support.swarm_run import items, start, start_later_run, workers
from tests.support.temporal import continued_from_in_runs, histories, patch_ids
from tests.support.workers import running
from workflows.swarm import STARTED_RUN_IS_FIRST


@dataclass
class RoutesSeen(FakeInsights):
    """Records the route of every call it answers."""

    seen: list[AgentRoute] = field(default_factory=list)

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        self.seen.append(request.route)
        return await FakeInsights.analyze(self, request)


def given_state(agent: FakeInsights) -> SwarmState:
    """A later run's routes (the configured provider, a model nobody configured) and timeouts."""
    configured = agent.config.routes[AgentRole.INSIGHTS][0]
    crafted = configured.model_copy(update={"model": "a-model-nobody-configured"})
    return SwarmState(routes=[crafted], timeouts=AgentTimeouts(start_to_close_seconds=600))


@pytest.mark.usefixtures("replay_check")
async def test_a_swarm_started_with_routes_given_calls_the_configured_ones(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agent = RoutesSeen()
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await ts_env.client.start_workflow(
            names.SWARM_WORKFLOW,
            args=[items(3), given_state(agent)],
            id=f"swarm-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=SwarmResult,
        )
        result = await handle.result()
        history = await handle.fetch_history()

    assert result.succeeded == 3
    assert agent.seen == [agent.config.routes[AgentRole.INSIGHTS][0]] * 3
    assert STARTED_RUN_IS_FIRST in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_later_run_keeps_the_routes_its_first_run_chose(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The routes a run carries were loaded by the swarm's first run: a later run (continued as
    # new) uses them as they are, asks no patch, and takes no snapshot again.
    agent = RoutesSeen()
    state = given_state(agent)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start_later_run(ts_env.client, task_queue, items(3), state)
        result = await handle.result()
        # The latest run: the swarm's, after the stand-in first run.
        history = await ts_env.client.get_workflow_handle(handle.id).fetch_history()

    assert result.succeeded == 3
    assert agent.seen == list(state.routes or []) * 3
    assert STARTED_RUN_IS_FIRST not in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_swarm_of_several_runs_treats_only_its_first_as_a_first_run(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Each run it continues as new names the run it came from (SwarmState.continued_from): no
    # later run asks the patch (and loads the configuration again).
    agent = RoutesSeen()
    settings = SwarmSettings(concurrency=2, chunk_size=2, chunks_per_run=1)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, items(6), settings)
        result = await handle.result()
        runs = await histories(ts_env.client, handle.id, handle.first_execution_run_id, False)

    assert result.succeeded == 6 and len(runs) == 3
    # A run id written wrong (not the run continued from) would make runs 2 and 3 first runs.
    assert [STARTED_RUN_IS_FIRST in patch_ids(run.events) for run in runs] == [False] * 3
    # Written by each run as it continued: the check does not rest on the rule for states from
    # before the field (a first attempt without a cron schedule).
    assert await continued_from_in_runs(ts_env.client, runs) == [
        None,
        runs[0].run_id,
        runs[1].run_id,
    ]
