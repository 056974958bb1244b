"""An orchestrator run cancelled on its own still bills its ticket for what it spent.

Temporal records no details with a cancellation: the ticket's totals (and its budget) left out
every call of a run an operator cancelled, the planner's and the finished sub-tasks' included.
Since ``cancel-reports-spend`` the run signals its ticket what it spent before it ends cancelled.
"""

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.orchestration import MAX_REPORTED_CALLS, OrchestratorProgress
from shared.view import TicketView
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, running, wait_until
from tests.support.workers import ticket_on_fakes
from workflows.orchestrated_draft import PATCH_CANCELLED_RUN_BILLED
from workflows.orchestrator import (
    CANCEL_ENDS_SUBTASKS,
    CANCEL_REPORTS_SPEND,
    CANCELLED_SUBTASK_BILLED,
)

pytestmark = pytest.mark.usefixtures("replay_check")


def fast_and_slow(hold: asyncio.Event) -> FakeOrchestrationAgents:
    """A plan of two sub-tasks: "fast" answers at once, "slow" only once ``hold`` is set."""
    return FakeOrchestrationAgents(
        plans=[plan(task("fast", "analyst"), task("slow", "researcher"))], gates={"slow": hold}
    )


async def fast_counted_slow_running(run: WorkflowHandle[Any, Any]) -> bool | None:
    """Whether the run has counted "fast" while "slow" alone still runs (None: not yet)."""
    try:
        now = await run.query(names.PROGRESS_QUERY, result_type=OrchestratorProgress)
    except RPCError:
        return None
    return ("fast" in {o.id for o in now.outcomes} and now.running == ["slow"]) or None


async def test_an_orchestrator_run_cancelled_on_its_own_bills_its_ticket_what_it_spent(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The planner (20 tokens) and one sub-task (20) answer; the other sub-task is still working
    # when an operator cancels the run. The ticket drafts alone, and bills the 40.
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    hold = asyncio.Event()
    orchestration = fast_and_slow(hold)
    async with ticket_on_fakes(
        dev_env.client, task_queue, agents, services, orchestration=orchestration
    ) as handle:
        run = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")
        try:
            await wait_until(lambda: fast_counted_slow_running(run), what="fast counted")
            await run.cancel()
            result: TicketView = await handle.result()
        finally:
            hold.set()
        run_history = await run.fetch_history()
        run_status = (await run.describe()).status
        ticket_history = await handle.fetch_history()

    assert run_status is WorkflowExecutionStatus.CANCELED  # the operator's cancellation stands
    assert CANCEL_REPORTS_SPEND in patch_ids(run_history.events)
    assert PATCH_CANCELLED_RUN_BILLED in patch_ids(ticket_history.events)
    assert result.state is TicketState.COMPLETED and result.draft is not None
    assert result.draft.author != "orchestrator" and len(agents.calls["draft"]) == 1
    assert (result.usage["planner"].requests, result.usage["planner"].input_tokens) == (1, 10)
    assert (result.usage["worker"].requests, result.usage["worker"].output_tokens) == (1, 10)


async def test_a_run_cancelled_with_a_sub_task_s_report_unbilled_sends_it_on_to_its_ticket(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A sub-task cancelled with its run reports its failed calls to the run, which has not
    # counted them when its own cancellation comes (the sub-task's end never reaches it): the
    # run sends them on with its own. The report is the one the sub-task would send, sent here
    # so that the run is cancelled with it unbilled, whatever the order of the two cancels.
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    hold = asyncio.Event()
    orchestration = fast_and_slow(hold)
    async with ticket_on_fakes(
        dev_env.client, task_queue, agents, services, orchestration=orchestration
    ) as handle:
        run = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")
        failed_call = {"provider": "fake", "model": "m", "input_tokens": 30, "output_tokens": 5}
        try:
            await wait_until(lambda: fast_counted_slow_running(run), what="fast counted")
            await run.signal(
                names.SUBTASK_SPENT_SIGNAL,
                {"run": f"{run.id}/2-researcher", "usage": {"worker": [failed_call]}},
            )
            await run.cancel()
            result: TicketView = await handle.result()
        finally:
            hold.set()
        run_history = await run.fetch_history()

    assert result.state is TicketState.COMPLETED
    assert (result.usage["worker"].requests, result.usage["worker"].input_tokens) == (2, 40)
    assert CANCELLED_SUBTASK_BILLED in patch_ids(run_history.events)


async def test_a_run_cancelled_while_a_sub_task_runs_ends_it_and_bills_its_failed_call(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # "slow"'s first answer fails for good having spent 40 tokens; its simpler attempt is running
    # when an operator cancels the whole run. The run cancels the sub-task, which reports the
    # failed call, and waits for its end: the ticket bills it with the planner's and "fast"'s.
    # Before cancel-ends-subtasks the sub-task was terminated with the run and the 40 were lost.
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    hold = asyncio.Event()
    orchestration = FakeOrchestrationAgents(
        plans=[plan(task("fast", "analyst"), task("slow", "researcher"))],
        failing={"slow"},
        failing_spends=40,
        gates={"slow": hold},
    )
    async with ticket_on_fakes(
        dev_env.client, task_queue, agents, services, orchestration=orchestration
    ) as handle:
        run = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")
        sub = dev_env.client.get_workflow_handle(f"{run.id}/2-researcher")

        async def simpler_attempt_running() -> bool | None:
            simpler = any(r.simplified for r in orchestration.work_requests)
            return simpler and await fast_counted_slow_running(run)

        try:
            await wait_until(simpler_attempt_running, what="slow's simpler attempt")
            await run.cancel()
            result: TicketView = await handle.result()
        finally:
            hold.set()
        run_history = await run.fetch_history()
        sub_status = (await sub.describe()).status

    assert sub_status is WorkflowExecutionStatus.CANCELED  # not TERMINATED with its run
    assert CANCEL_ENDS_SUBTASKS in patch_ids(run_history.events)
    assert result.state is TicketState.COMPLETED
    # "fast"'s call (10 tokens in) and "slow"'s failed one (20 in).
    assert (result.usage["worker"].requests, result.usage["worker"].input_tokens) == (2, 30)
    assert (result.usage["planner"].requests, result.usage["planner"].input_tokens) == (1, 10)


async def test_a_spend_signal_that_names_another_run_or_says_what_no_run_spends_is_ignored(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Anyone who may signal the ticket can send one, and what it says is billed: while the
    # ticket waits on its run (no worker takes the planner's call, so the run spends nothing
    # and sends nothing itself), a stranger's, a negative one and one that does not parse come.
    agents, services = FakeAgents(complex=True), FakeTicketServices()
    async with ticket_on_fakes(dev_env.client, task_queue, agents, services) as handle:
        run = dev_env.client.get_workflow_handle(f"{handle.id}/resolution")
        await wait_until(lambda: running(run), what="the orchestrator run")
        big = [{"provider": "x", "model": "m", "input_tokens": 10**6}]
        negative = [{"provider": "x", "model": "m", "input_tokens": -(10**6), "cost_usd": -5}]
        # A NaN cost made the ticket's spent cost NaN: every budget comparison false.
        not_a_cost = [{"provider": "x", "model": "m", "input_tokens": 1, "cost_usd": float("nan")}]
        too_many_tokens = [{"provider": "x", "model": "m", "input_tokens": 10**12}]
        # A NaN (or summed infinite) latency was written as null in the ticket's view, which
        # then failed to decode: its status and its result.
        not_a_time = [
            {"provider": "x", "model": "m", "input_tokens": 1, "latency_ms": float("nan")}
        ]
        too_long = [{"provider": "x", "model": "m", "input_tokens": 1, "latency_ms": 1e308}] * 2
        for signalled in (
            {"run": "someone-else", "usage": {"planner": big}},
            {"run": run.id, "usage": {"planner": negative}},
            {"run": run.id, "usage": {"planner": not_a_cost}},
            {"run": run.id, "usage": {"planner": not_a_time}},
            {"run": run.id, "usage": {"planner": too_long}},
            {"run": run.id, "usage": {"planner": too_many_tokens}},
            {"run": run.id, "usage": {"planner": big * (MAX_REPORTED_CALLS + 1)}},
            {"run": run.id, "usage": {"not-a-role": big}},
            {"usage": "lots"},
        ):
            await handle.signal(names.ORCHESTRATION_SPENT_SIGNAL, signalled)
        await run.cancel()
        result: TicketView = await handle.result()

    assert result.state is TicketState.COMPLETED
    assert [f.failed for f in result.fallbacks] == [f"orchestrator:{run.id}"]
    assert "planner" not in result.usage
    assert 0 < result.total_tokens < 10**6
    assert 0 <= result.total_cost_usd < 1  # a number: NaN fails both
