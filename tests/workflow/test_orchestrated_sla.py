"""A complex ticket's orchestrator run retries its calls until the ticket's SLA deadline, as the
ticket's own calls do: its planner, synthesizer and sub-task calls had the default hour of a
run made for no ticket."""

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.agents import Priority
from shared.view import TicketView
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import histories
from tests.support.workers import ticket_on_fakes

pytestmark = pytest.mark.usefixtures("replay_check")

AGENT_CALLS = {names.PLAN_TASK, names.RUN_SUBTASK, names.SYNTHESIZE_RESULTS}


async def test_an_orchestrated_drafts_calls_retry_until_the_tickets_sla_deadline(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Low priority: a deadline days away, far from the default hour.
    agents, services = FakeAgents(complex=True, priority=Priority.LOW), FakeTicketServices()
    orchestration = FakeOrchestrationAgents(plans=[plan(task("look", "researcher"))])
    async with ticket_on_fakes(
        ts_env.client, task_queue, agents, services, orchestration=orchestration
    ) as handle:
        result: TicketView = await handle.result()
        every = await histories(ts_env.client, handle.id)

    assert result.state is TicketState.COMPLETED and result.draft is not None
    assert result.draft.author == "orchestrator" and result.sla_deadline is not None
    windows = {}
    for history in every:
        for event in history.events:
            if not event.HasField("activity_task_scheduled_event_attributes"):
                continue
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name in AGENT_CALLS:
                left = result.sla_deadline - event.event_time.ToDatetime(
                    tzinfo=result.sla_deadline.tzinfo
                )
                windows[scheduled.activity_type.name] = (
                    scheduled.schedule_to_close_timeout.ToTimedelta(),
                    left,
                )
    assert set(windows) == AGENT_CALLS
    for name, (window, left) in windows.items():
        assert left > timedelta(hours=2), name  # the deadline is not within the default hour
        assert abs(window - left) < timedelta(minutes=1), (name, window, left)
