"""An orchestrator run cancelled as a whole (``cancel-ends-subtasks``) counts a sub-task that
ended its own way in the meantime from that end: its result's usage, or its failure's details.

The sub-task is a stand-in (``tests/support/fake_subtasks.py``) that answers or fails when
cancelled, as a real one does whose call answered in the workflow task the cancel reached it:
that race cannot be arranged with the real workflow. Not under ``replay_check``: the stand-in's
history is no real sub-task's; the ticket's and the run's are replayed by the test itself.
"""

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.orchestration import OrchestratorProgress
from shared.view import TicketView
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task
from tests.support.fake_subtasks import (
    LATE_SPEND,
    FakeSubTaskCompletingWhenCancelled,
    FakeSubTaskFailingWhenCancelled,
)
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import replay_histories, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline


@pytest.mark.parametrize(
    "stand_in", [FakeSubTaskCompletingWhenCancelled, FakeSubTaskFailingWhenCancelled]
)
async def test_a_sub_task_that_ends_its_own_way_as_its_run_is_cancelled_is_billed_from_its_end(
    dev_env: WorkflowEnvironment, task_queue: str, stand_in: type
) -> None:
    # The run's one sub-task answers (or fails, its failure carrying what it spent) in the
    # workflow task its cancellation reaches it: the run counts what it spent from its end.
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    orchestration = FakeOrchestrationAgents(plans=[plan(task("only", "researcher"))])
    activities = agents.activities() + services.activities() + orchestration.agent_activities()
    async with fake_pipeline(
        dev_env.client, task_queue, activities, services.agent_queue, workflows=[stand_in]
    ):
        handle = await start_ticket(dev_env.client, task_queue, make_ticket())
        run = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")

        async def sub_task_running() -> bool | None:
            try:
                now = await run.query(names.PROGRESS_QUERY, result_type=OrchestratorProgress)
            except RPCError:
                return None
            return now.running == ["only"] or None

        await wait_until(sub_task_running, what="the sub-task running")
        await run.cancel()
        result: TicketView = await handle.result()
        sub = dev_env.client.get_workflow_handle(f"{run.id}/1-researcher")
        sub_status = (await sub.describe()).status
        # The ticket's and the run's own histories replay (the stand-in's is no sub-task's).
        await replay_histories(dev_env.client, [(handle.id, None), (run.id, None)], children=False)

    ended_as = {
        FakeSubTaskCompletingWhenCancelled: WorkflowExecutionStatus.COMPLETED,
        FakeSubTaskFailingWhenCancelled: WorkflowExecutionStatus.FAILED,
    }
    assert sub_status is ended_as[stand_in]  # its own end, not terminated with its run
    assert result.state is TicketState.COMPLETED
    worker = result.usage["worker"]
    assert (worker.requests, worker.input_tokens) == (1, LATE_SPEND.input_tokens)
