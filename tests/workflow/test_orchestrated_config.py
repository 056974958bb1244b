"""A complex ticket's orchestrator run works by the ticket's configuration snapshot (patch
"ticket-config-kept"; a review, 2026-12-08): the run took a snapshot of its own from whichever
worker ran its first task, and a ticket started before a worker restarted with other settings
ran its planner, sub-tasks and synthesis by those (seen: 77 s attempts for the plan, 120 s for
the ticket's own agents)."""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.business_hours_zone import snapshot
from shared.pipeline_config import PipelineConfig
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import histories, patch_ids
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")


@dataclass
class RestartedWithOtherSettings(FakeTicketServices):
    """The first snapshot is the ticket's; every later one is of a worker restarted with 77 s
    attempts."""

    snapshots: int = 0

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_config(self) -> PipelineConfig:
        self.snapshots += 1
        config = self.config
        if self.snapshots > 1:
            config = config.model_copy(deep=True)
            config.agent_timeouts.start_to_close_seconds = 77
        return snapshot(config, datetime.now(UTC))


async def test_a_complex_tickets_plan_runs_by_the_tickets_snapshot(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents, services = FakeAgents(complex=True), RestartedWithOtherSettings()
    orchestration = FakeOrchestrationAgents(plans=[plan(task("look", "researcher"))])
    async with ticket_on_fakes(
        ts_env.client, task_queue, agents, services, orchestration=orchestration
    ) as handle:
        await handle.result()
        every = await histories(ts_env.client, handle.id)

    attempts: dict[str, float] = {}
    markers: set[str] = set()
    for history in every:
        markers.update(patch_ids(history.events))
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                attempts[scheduled.activity_type.name] = (
                    scheduled.start_to_close_timeout.ToTimedelta().total_seconds()
                )
    assert services.snapshots == 1
    assert "ticket-config-kept" in markers
    planned = [
        name for name in attempts if name in ("plan_task", "run_subtask", "synthesize_results")
    ]
    assert planned, attempts
    assert {attempts[name] for name in planned} == {attempts["classify_ticket"]} != {77.0}
