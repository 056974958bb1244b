"""What a plan run cancelled mid-way had spent, read back from its history and its sub-tasks'
(starter/plan_spend.py): a cancellation carries no usage, and `plan --wait` said only "was
cancelled" after calls that were paid for. On the dev server."""

import asyncio

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.testing import WorkflowEnvironment

from starter.plan_spend import spent_by_run, spent_words
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task
from tests.support.workers import running
from tests.workflow.test_orchestrator import fast_done_slow_running, start, workers


@pytest.mark.usefixtures("replay_check")
async def test_a_cancelled_plan_run_s_spend_is_its_own_calls_and_its_sub_tasks(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    two_chains = plan(task("slow", "researcher"), task("fast", "analyst"))
    hold = asyncio.Event()
    agents = FakeOrchestrationAgents(plans=[two_chains], gates={"slow": hold})
    async with running(workers(dev_env.client, task_queue, agents)):
        handle = await start(dev_env.client, task_queue)

        await fast_done_slow_running(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        run_id = (await handle.describe()).run_id
        spent = await spent_by_run(dev_env.client, handle.id, run_id)
        # Let go only now: answered after the run ended (its sub-task not yet stopped by the
        # server), the slow call would be in the histories too, as paid for.
        hold.set()

    assert isinstance(ended.value.cause, CancelledError)
    # The planner's call and the fast sub-task's; the slow one never answered.
    assert len(spent) == 2
    assert sum(u.input_tokens + u.output_tokens for u in spent) == 40
    assert spent_words(spent).startswith(
        ": its agent calls and its sub-tasks' had spent 40 tokens, $0.0020 (2 call(s)"
    )
    assert spent_words([]) == (
        ": none of its agent calls had answered, nothing is known to be spent"
    )
