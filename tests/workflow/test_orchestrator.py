"""OrchestratorWorkflow on the time-skipping server: DAG scheduling, plan checks, fallbacks."""

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.agents import AgentRole
from shared.orchestration import (
    ORCHESTRATOR_BUDGET_SPENT,
    OrchestratorFailure,
    OrchestratorInput,
    OrchestratorProgress,
    OrchestratorResult,
    SubTaskStatus,
)
from shared.pipeline_config import SpendingLimit
from tests.support.fake_fanout import FakeOrchestrationAgents, plan, task, with_fallback
from tests.support.fakes import fake_routes_config
from tests.support.temporal import PAYLOAD_DRIVER, histories, patch_ids, wait_until
from tests.support.workers import running
from workflows import ALL_WORKFLOWS
from workflows.orchestrator import (
    CANCELLED_SUBTASK_BILLED,
    DEPENDENT_CALL_SIZED,
    FALLBACK_WITHIN_BUDGET,
    HANDED_TEXT_SIZED,
    LONE_SUBTASK_UNTIL_COMPLETED,
    WORKER_CALL_MEASURED_FIRST,
)
from workflows.subtask import SUBTASK_CANCEL_REPORTS_SPEND


def workers(client: Client, task_queue: str, agents: FakeOrchestrationAgents) -> list[Worker]:
    return [
        Worker(
            client, task_queue=task_queue, workflows=ALL_WORKFLOWS, activities=[agents.load_config]
        ),
        Worker(client, task_queue=agents.queue, activities=agents.agent_activities()),
    ]


async def start(
    client: Client, task_queue: str, what: str = "a complex task"
) -> WorkflowHandle[Any, OrchestratorResult]:
    return await client.start_workflow(
        names.ORCHESTRATOR_WORKFLOW,
        OrchestratorInput(task=what),
        id=f"plan-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=OrchestratorResult,
    )


async def progress(handle: WorkflowHandle[Any, Any]) -> OrchestratorProgress:
    return await handle.query(names.PROGRESS_QUERY, result_type=OrchestratorProgress)


async def stopped_by_a_budget_of_100(
    env: WorkflowEnvironment, task_queue: str, agents: FakeOrchestrationAgents, tokens: int = 100
) -> tuple[ApplicationError, WorkflowHistory]:
    """A run whose budget is 100 tokens (or ``tokens``), failed as its budget stops it: why, and
    its history."""
    async with running(workers(env.client, task_queue, agents)):
        handle = await env.client.start_workflow(
            names.ORCHESTRATOR_WORKFLOW,
            OrchestratorInput(task="a complex task", budget=SpendingLimit(max_tokens=tokens)),
            id=f"plan-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=OrchestratorResult,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        history = await handle.fetch_history()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == ORCHESTRATOR_BUDGET_SPENT
    return cause, history


async def fast_done_slow_running(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the sub-task "fast" has its outcome while "slow" alone still runs."""

    async def check() -> bool:
        now = await progress(handle)
        return "fast" in {o.id for o in now.outcomes} and now.running == ["slow"]

    await wait_until(check, what="the fast sub-task to finish while the slow one runs")


@pytest.mark.usefixtures("replay_check")
async def test_a_diamond_runs_both_middle_branches_at_once_and_joins_their_outputs(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    diamond = plan(
        task("a", "researcher"),
        task("b", "analyst", "a"),
        task("c", "coder", "a"),
        task("d", "writer", "b", "c"),
    )
    # b may finish only once c has started, and c only once b has: run one after the other,
    # they would wait for each other forever and the test would time out.
    agents = FakeOrchestrationAgents(plans=[diamond])
    agents.gates = {"b": agents.started["c"], "c": agents.started["b"]}
    async with running(workers(ts_env.client, task_queue, agents)):
        result = await (await start(ts_env.client, task_queue)).result()

    assert [o.status for o in result.outcomes] == [SubTaskStatus.COMPLETED] * 4
    assert result.plan_attempts == 1
    by_id = {r.subtask.id: r for r in agents.work_requests}
    assert [c.subtask_id for c in by_id["b"].context] == ["a"]
    assert [c.subtask_id for c in by_id["d"].context] == ["b", "c"]
    assert by_id["d"].context[0].output.startswith("b done [a]")
    assert agents.finished[0] == "a" and agents.finished[-1] == "d"
    assert result.synthesis.answer == "a + b + c + d"
    assert result.outcomes[0].sources == ["KB-a"]
    # The audit trail: planner, four workers, synthesizer.
    assert {role: len(calls) for role, calls in result.usage.items()} == {
        "planner": 1,
        "worker": 4,
        "synthesizer": 1,
    }
    assert result.cost_usd == pytest.approx(0.006)


@pytest.mark.usefixtures("replay_check")
async def test_a_dependency_named_twice_reaches_the_worker_once(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A review (2026-12-07): depends_on ["a"] * 20 passed the plan check, and the worker's
    # prompt carried "a"'s output twenty times (16,000 tokens where 800 would do, every attempt).
    agents = FakeOrchestrationAgents(
        plans=[plan(task("a", "researcher"), task("b", "writer", *["a"] * 20))]
    )
    async with running(workers(ts_env.client, task_queue, agents)):
        result = await (await start(ts_env.client, task_queue)).result()

    assert [o.status for o in result.outcomes] == [SubTaskStatus.COMPLETED] * 2
    by_id = {r.subtask.id: r for r in agents.work_requests}
    assert [c.subtask_id for c in by_id["b"].context] == ["a"]


@pytest.mark.usefixtures("replay_check")
async def test_sub_task_workflow_ids_hold_their_place_and_worker_never_the_models_words(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Workflow ids are stored and indexed unencrypted; the planner has read the customer's text.
    order = "refund-ana-lima-order-88123"
    chatty = plan(task(order), task("reply to Ana", "writer", order))
    agents = FakeOrchestrationAgents(plans=[chatty])
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await start(ts_env.client, task_queue)
        result = await handle.result()
        children = [
            h.workflow_id
            for h in await histories(ts_env.client, handle.id, handle.result_run_id)
            if h.workflow_id != handle.id
        ]

    assert [o.status for o in result.outcomes] == [SubTaskStatus.COMPLETED] * 2
    assert sorted(children) == [f"{handle.id}/1-researcher", f"{handle.id}/2-writer"]


@pytest.mark.usefixtures("replay_check")
async def test_a_slow_branch_never_holds_up_an_independent_one(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    two_chains = plan(
        task("slow", "researcher"),
        task("after-slow", "writer", "slow"),
        task("fast", "analyst"),
        task("after-fast", "writer", "fast"),
    )
    hold = asyncio.Event()
    agents = FakeOrchestrationAgents(plans=[two_chains], gates={"slow": hold})
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await start(ts_env.client, task_queue)

        async def fast_chain_done() -> bool:
            done = {o.id for o in (await progress(handle)).outcomes}
            return "after-fast" in done

        await wait_until(fast_chain_done, what="the fast chain to finish")
        during = await progress(handle)
        hold.set()
        result = await handle.result()

    assert during.running == ["slow"]
    assert {o.id for o in during.outcomes} == {"fast", "after-fast"}
    # Asked twice a second by `plan --wait`: the outputs (megabytes) stay in the result.
    assert [o.output for o in during.outcomes] == [None, None]
    assert all(o.output for o in result.outcomes)
    assert agents.finished == ["fast", "after-fast", "slow", "after-slow"]
    assert all(o.status is SubTaskStatus.COMPLETED for o in result.outcomes)


@pytest.mark.usefixtures("replay_check")
async def test_an_invalid_plan_goes_back_to_the_planner_once_with_its_errors(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    cyclic = plan(task("a", "researcher", "b"), task("b", "analyst", "a"))
    good = plan(task("a", "researcher"), task("b", "analyst", "a"))
    agents = FakeOrchestrationAgents(plans=[cyclic, good])
    async with running(workers(ts_env.client, task_queue, agents)):
        result = await (await start(ts_env.client, task_queue)).result()

    assert result.plan_attempts == 2
    assert result.plan == good
    retry = agents.plan_requests[1]
    assert retry.previous_plan == cyclic
    assert retry.errors == ["the plan has a cycle: 'a' -> 'b' -> 'a'"]
    assert result.synthesis.answer == "a + b"


@pytest.mark.usefixtures("replay_check")
async def test_a_second_invalid_plan_fails_the_run_with_every_error_listed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    unknown = plan(task("a", "astrologer"), task("b", "analyst", "a"))
    still_bad = plan(task("a", "astrologer"), task("b", "analyst", "zz"))
    agents = FakeOrchestrationAgents(plans=[unknown, still_bad])
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await start(ts_env.client, task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidPlan"
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert details.errors == [
        "sub-task 'a' asks for worker type 'astrologer'; "
        "known types: analyst, coder, researcher, reviewer, writer",
        "sub-task 'b' depends on 'zz', which is not in the plan",
    ]
    # Both planner calls are billed, though the run produced nothing.
    assert [len(details.usage.get(role, [])) for role in ("planner", "worker")] == [2, 0]
    assert details.tokens == 2 * 20
    assert "invalid twice" in cause.message and "astrologer" in cause.message
    assert len(agents.plan_requests) == 2 and not agents.work_requests


@pytest.mark.usefixtures("replay_check")
async def test_a_failed_sub_task_falls_back_to_a_simpler_attempt_on_a_cheaper_model(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeOrchestrationAgents(
        plans=[plan(task("a", "researcher"), task("b", "writer", "a"))], failing={"a"}
    )
    cheap = f"cheap{uuid.uuid4().hex[:6]}"
    agents.config = with_fallback(agents.config, cheap)
    cheap_worker = Worker(
        ts_env.client, task_queue=names.llm_task_queue(cheap), activities=[agents.run_subtask]
    )
    async with running([*workers(ts_env.client, task_queue, agents), cheap_worker]):
        result = await (await start(ts_env.client, task_queue)).result()

    a, b = result.outcomes
    assert a.status is SubTaskStatus.COMPLETED and a.simplified and a.model == "cheap-model"
    usual = agents.config.routes[AgentRole.WORKER][0].provider
    attempts = [
        (r.subtask.id, r.simplified, r.route and r.route.provider) for r in agents.work_requests
    ]
    assert attempts[:2] == [("a", False, usual), ("a", True, cheap)]
    # The simpler attempt follows the chain's last route: that route hands an overload on
    # (activities/retry_budget.py) instead of waiting it out; the simpler attempt waits.
    assert [r.route and r.route.hands_on for r in agents.work_requests[:2]] == [True, False]
    assert b.status is SubTaskStatus.COMPLETED and not b.simplified
    assert result.synthesis.gaps == []


@pytest.mark.usefixtures("replay_check")
async def test_when_the_simpler_attempt_fails_too_dependents_are_skipped_and_the_gap_named(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeOrchestrationAgents(
        plans=[
            plan(
                task("a", "researcher"),
                task("b", "analyst", "a"),
                task("c", "writer", "b"),
                task("other", "coder"),
            )
        ],
        failing={"a"},
        failing_simplified={"a"},
    )
    async with running(workers(ts_env.client, task_queue, agents)):
        result = await (await start(ts_env.client, task_queue)).result()

    status = {o.id: o.status for o in result.outcomes}
    assert status == {
        "a": SubTaskStatus.FAILED,
        "b": SubTaskStatus.SKIPPED,
        "c": SubTaskStatus.SKIPPED,
        "other": SubTaskStatus.COMPLETED,
    }
    a = result.outcomes[0]
    assert a.error is not None and "the model refused sub-task a" in a.error
    assert "the simpler attempt" in a.error
    assert result.outcomes[2].error == "needs a, which failed"
    assert {r.subtask.id for r in agents.work_requests} == {"a", "other"}
    # No fallback_route: the simpler attempt runs on the chain's last model, so that route does
    # not hand an overload on to the same model.
    assert [r.route and r.route.hands_on for r in agents.work_requests if r.subtask.id == "a"] == [
        False,
        False,
    ]
    assert agents.synthesis_requests[0].missing == ["a", "b", "c"]
    assert result.synthesis.gaps == ["a", "b", "c"]
    assert result.synthesis.answer == "other"


@pytest.mark.usefixtures("replay_check")
async def test_a_megabyte_output_travels_by_reference_and_the_histories_stay_small(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeOrchestrationAgents(
        plans=[plan(task("big", "researcher"), task("after", "writer", "big"))],
        output_size=1_000_000,
    )
    stored_before = stored_payloads()
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await start(ts_env.client, task_queue)
        result = await handle.result()

    big, after = result.outcomes
    assert big.output is not None and len(big.output) > 1_000_000
    assert big.output.endswith("x" * 1_000) and after.status is SubTaskStatus.COMPLETED
    # The dependent got the output trimmed to its context budget, not the megabyte.
    context = next(r for r in agents.work_requests if r.subtask.id == "after").context[0]
    assert len(context.output) < 4 * 800 + 100 and "characters trimmed" in context.output
    # The synthesizer read each result to its share of synthesis_tokens (16,000 / 2), not to a
    # worker's context budget (tests/unit/test_synthesis_share.py).
    [synthesis] = agents.synthesis_requests
    assert [r.subtask_id for r in synthesis.results] == ["big", "after"]
    assert all(4 * 800 + 100 < len(r.output) < 4 * 8_000 + 100 for r in synthesis.results)
    # Outputs and results over the threshold went to the store; the histories hold references.
    assert stored_payloads() > stored_before
    for history in await histories(ts_env.client, handle.id, handle.result_run_id):
        size = len(history.to_json())
        assert size < 300_000, f"{history.workflow_id}: {size} bytes of history"


def stored_payloads() -> int:
    root = PAYLOAD_DRIVER.root  # payloads by content hash, ownership records under owners/
    return sum(
        1 for p in root.rglob("*") if p.is_file() and "owners" not in p.relative_to(root).parts
    )


@pytest.mark.usefixtures("replay_check")
async def test_when_no_sub_task_completes_the_run_fails_instead_of_inventing_an_answer(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agents = FakeOrchestrationAgents(
        plans=[plan(task("a", "researcher"), task("b", "writer", "a"))],
        failing={"a"},
        failing_simplified={"a"},
    )
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await start(ts_env.client, task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "NoSubTaskCompleted"
    assert cause.message.startswith("no sub-task completed: a: sub-task a failed")
    assert not agents.synthesis_requests
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert [o.id for o in details.outcomes] == ["a", "b"]
    assert len(details.usage["planner"]) == 1


@pytest.mark.usefixtures("replay_check")
async def test_a_sub_task_cancelled_on_its_own_fails_it_and_the_run_completes(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    two_chains = plan(
        task("slow", "researcher"),
        task("after-slow", "writer", "slow"),
        task("fast", "analyst"),
    )
    hold = asyncio.Event()
    agents = FakeOrchestrationAgents(plans=[two_chains], gates={"slow": hold})
    async with running(workers(dev_env.client, task_queue, agents)):
        handle = await start(dev_env.client, task_queue)

        await fast_done_slow_running(handle)
        await dev_env.client.get_workflow_handle(f"{handle.id}/1-researcher").cancel()
        hold.set()
        result = await handle.result()

    status = {o.id: o.status for o in result.outcomes}
    assert status == {
        "slow": SubTaskStatus.FAILED,
        "after-slow": SubTaskStatus.SKIPPED,
        "fast": SubTaskStatus.COMPLETED,
    }
    assert len(result.usage["planner"]) == 1  # the run's usage is kept


@pytest.mark.usefixtures("replay_check")
async def test_a_sub_task_cancelled_on_its_own_after_a_failed_call_bills_its_run_for_it(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The slow sub-task's first answer fails for good having spent 40 tokens; its simpler
    # attempt is running when an operator cancels it. A cancellation carries no details: the
    # run (and its ticket) billed nothing of those 40 before subtask-cancel-reports-spend.
    hold = asyncio.Event()
    agents = FakeOrchestrationAgents(
        plans=[plan(task("slow", "researcher"), task("fast", "analyst"))],
        failing={"slow"},
        failing_spends=40,
        gates={"slow": hold},
    )
    async with running(workers(dev_env.client, task_queue, agents)):
        handle = await start(dev_env.client, task_queue)

        async def simpler_attempt_running() -> bool:
            now = await progress(handle)
            simpler = any(r.simplified and r.subtask.id == "slow" for r in agents.work_requests)
            return simpler and "fast" in {o.id for o in now.outcomes}

        await wait_until(simpler_attempt_running, what="the slow sub-task's simpler attempt")
        sub = dev_env.client.get_workflow_handle(f"{handle.id}/1-researcher")
        await sub.cancel()
        try:
            result = await handle.result()
        finally:
            hold.set()
        sub_history, run_history = await sub.fetch_history(), await handle.fetch_history()

    slow = next(o for o in result.outcomes if o.id == "slow")
    assert slow.status is SubTaskStatus.FAILED
    assert [(u.input_tokens, u.output_tokens) for u in slow.usage] == [(20, 20)]
    # The fast sub-task's call and the slow one's failed call, both billed by the run.
    assert sorted(u.input_tokens for u in result.usage["worker"]) == [10, 20]
    assert SUBTASK_CANCEL_REPORTS_SPEND in patch_ids(sub_history.events)
    assert CANCELLED_SUBTASK_BILLED in patch_ids(run_history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_spend_signal_that_names_no_running_sub_task_or_another_role_is_ignored(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Anyone who may signal the run can send one, and what it says is billed. The slow
    # sub-task, cancelled having spent nothing, sends none itself. (A report naming a sub-task
    # that has ended, or another workflow, is refused so that strangers' reports do not pile up
    # in the run; none of them would be billed here either.)
    hold = asyncio.Event()
    agents = FakeOrchestrationAgents(
        plans=[plan(task("slow", "researcher"), task("fast", "analyst"))], gates={"slow": hold}
    )
    async with running(workers(dev_env.client, task_queue, agents)):
        handle = await start(dev_env.client, task_queue)
        await fast_done_slow_running(handle)
        sub_id = f"{handle.id}/1-researcher"
        big = [{"provider": "x", "model": "m", "input_tokens": 10**6}]
        for signalled in (
            {"run": f"{handle.id}/2-analyst", "usage": {"worker": big}},  # ended already
            {"run": "someone-else", "usage": {"worker": big}},
            {"run": sub_id, "usage": {"planner": big}},
            {"run": sub_id, "usage": {"worker": [{**big[0], "input_tokens": -(10**6)}]}},
            {"run": sub_id, "usage": {"worker": [{**big[0], "input_tokens": 1}] * 21}},
            {"usage": "lots"},
        ):
            await handle.signal(names.SUBTASK_SPENT_SIGNAL, signalled)
        await dev_env.client.get_workflow_handle(sub_id).cancel()
        try:
            result = await handle.result()
        finally:
            hold.set()
        run_history = await handle.fetch_history()

    slow = next(o for o in result.outcomes if o.id == "slow")
    assert slow.status is SubTaskStatus.FAILED and slow.usage == []
    assert [u.input_tokens for u in result.usage["worker"]] == [10]  # the fast one's alone
    assert CANCELLED_SUBTASK_BILLED not in patch_ids(run_history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_synthesizer_that_fails_leaves_the_sub_tasks_outcomes_and_the_plans_errors(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # docs/fanout.md promises every failure of a run its sub-tasks' outcomes and its plan's
    # errors: a synthesizer's failure carried neither, though both sub-tasks had run.
    agents = FakeOrchestrationAgents(
        plans=[plan(task("a", "wizard")), plan(task("a", "researcher"), task("b", "writer", "a"))],
        synthesis_fails=True,
    )
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await start(ts_env.client, task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "OrchestratorAgentFailed"
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert [(o.id, o.status) for o in details.outcomes] == [
        ("a", SubTaskStatus.COMPLETED),
        ("b", SubTaskStatus.COMPLETED),
    ]
    assert details.errors and "wizard" in " ".join(details.errors)
    assert len(details.usage["planner"]) == 2


@pytest.mark.usefixtures("replay_check")
async def test_the_synthesizer_s_backup_is_not_called_once_the_first_spent_the_budget(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The first model's invalid answers (1,000 tokens) spend the run's budget of 100: its
    backup was called unchecked and the run passed its budget. The run stops before it."""
    config = fake_routes_config()
    first = config.routes[AgentRole.SYNTHESIZER][0]
    backup = first.model_copy(update={"model": "backup-model"})
    config = config.model_copy(
        update={"routes": {**config.routes, AgentRole.SYNTHESIZER: [first, backup]}}
    )
    agents = FakeOrchestrationAgents(
        plans=[plan(task("a", "researcher"))], config=config, first_synthesis_spends=1_000
    )
    cause, history = await stopped_by_a_budget_of_100(ts_env, task_queue, agents)
    # The backup never called.
    assert [r.route and r.route.model for r in agents.synthesis_requests] == [first.model]
    assert FALLBACK_WITHIN_BUDGET in patch_ids(history.events)
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert details.usage["synthesizer"][0].input_tokens == 500  # the spend is billed
    assert [o.status for o in details.outcomes] == [SubTaskStatus.COMPLETED]


@pytest.mark.usefixtures("replay_check")
async def test_a_budgeted_run_sizes_its_sub_tasks_by_a_worker_call_before_starting_a_second(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The run may spend 100 tokens; the plan costs 20, each worker call 60. Sized by the
    # planner's call, four sub-tasks started at once holding 20 each, and their first calls
    # (never checked against a share) spent 240: 260 of 100 (a review, 2026-12-07). One starts,
    # its call sizes the rest: none fits after it, the run stops at 80.
    independent = plan(*(task(i) for i in ("a", "b", "c", "d")))
    agents = FakeOrchestrationAgents(plans=[independent], worker_tokens=30)
    cause, history = await stopped_by_a_budget_of_100(ts_env, task_queue, agents)
    assert [r.subtask.id for r in agents.work_requests] == ["a"]
    details = OrchestratorFailure.model_validate(cause.details[0])
    spent = sum(u.input_tokens + u.output_tokens for calls in details.usage.values() for u in calls)
    assert spent == 80
    assert WORKER_CALL_MEASURED_FIRST in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_budgeted_run_whose_first_sub_task_fails_cheaply_still_runs_the_rest_one_by_one(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The run may spend 100 tokens; the plan costs 20, each worker call 60, and "a" fails after
    # an answer of 10. Its failure counted as the worker call that sizes the rest: b, c and d
    # started at once sized by 20 and spent 180, 210 of 100 (a review, 2026-12-07). Until one
    # sub-task completes they run one at a time: b spends 60, and c does not fit after it.
    independent = plan(*(task(i) for i in ("a", "b", "c", "d")))
    agents = FakeOrchestrationAgents(
        plans=[independent],
        worker_tokens=30,
        failing={"a"},
        failing_simplified={"a"},  # its simpler attempt is refused too, spending nothing
        failing_spends=10,
    )
    cause, history = await stopped_by_a_budget_of_100(ts_env, task_queue, agents)
    calls = [(r.subtask.id, r.simplified) for r in agents.work_requests]
    assert calls == [("a", False), ("a", True), ("b", False)]
    details = OrchestratorFailure.model_validate(cause.details[0])
    spent = sum(u.input_tokens + u.output_tokens for calls in details.usage.values() for u in calls)
    assert spent == 20 + 10 + 60  # the plan, a's failed answer, b
    assert LONE_SUBTASK_UNTIL_COMPLETED in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_budgeted_run_s_lone_first_sub_task_holds_the_whole_budget_for_its_retries(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The run may spend 250; a's first route fails after 50 and its simpler attempt is
    # estimated at 50 more. a runs alone (the others wait for a completed one to size them) but
    # held a third of what was free (76), as if c and d ran beside it: its simpler attempt was
    # refused, a failed and b (which needs it) was skipped, with most of the budget unused (a
    # review, 2026-12-07, with 200: 130 spent). Alone, it holds what is left: it completes, and
    # every sub-task after it, within the budget.
    graph = plan(task("a"), task("b", "writer", "a"), task("c"), task("d"))
    agents = FakeOrchestrationAgents(
        plans=[graph], worker_tokens=10, failing={"a"}, failing_spends=50
    )
    async with running(workers(ts_env.client, task_queue, agents)):
        handle = await ts_env.client.start_workflow(
            names.ORCHESTRATOR_WORKFLOW,
            OrchestratorInput(task="a complex task", budget=SpendingLimit(max_tokens=250)),
            id=f"plan-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=OrchestratorResult,
        )
        result = await handle.result()
        history = await handle.fetch_history()

    statuses = {o.id: o.status for o in result.outcomes}
    assert statuses == {
        "a": SubTaskStatus.COMPLETED,
        "b": SubTaskStatus.COMPLETED,
        "c": SubTaskStatus.COMPLETED,
        "d": SubTaskStatus.COMPLETED,
    }
    assert ("a", True) in [(r.subtask.id, r.simplified) for r in agents.work_requests]
    assert result.tokens <= 250
    assert LONE_SUBTASK_UNTIL_COMPLETED in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_budgeted_run_sizes_a_dependent_sub_task_by_the_results_it_is_handed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The run may spend 100 tokens; the plan costs 20, "a" 20 and answers about 53 tokens of
    # text, which "b" (depending on it) is handed in its prompt. Sized by the largest call so
    # far (20), b started with 60 free and its first call spent 73: 113 of 100 (a review,
    # 2026-12-07). Its own call is estimated at 20 + 53 now: it does not fit, the run stops at 40.
    dependent = plan(task("a", "researcher"), task("b", "writer", "a"))
    agents = FakeOrchestrationAgents(plans=[dependent], output_size=200, context_in_input=True)
    cause, history = await stopped_by_a_budget_of_100(ts_env, task_queue, agents)
    assert [r.subtask.id for r in agents.work_requests] == ["a"]
    details = OrchestratorFailure.model_validate(cause.details[0])
    spent = sum(u.input_tokens + u.output_tokens for calls in details.usage.values() for u in calls)
    assert spent == 40
    assert "a sub-task's first call needs about 73" in cause.message
    assert DEPENDENT_CALL_SIZED in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_budgeted_run_sizes_the_synthesis_by_the_results_it_is_handed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # 200 to spend: the plan, a and b cost 20 each, and a and b answer 103 tokens of text each,
    # which the synthesizer is handed. Sized by the largest call so far (20), the synthesis ran
    # with 140 free and spent 226: 286 of 200 (a review, 2026-12-07). Sized by what it is handed
    # (20 of its own and 206), it does not fit: the run stops at 60.
    branches = plan(task("a", "researcher"), task("b", "researcher"))
    agents = FakeOrchestrationAgents(plans=[branches], output_size=400, context_in_input=True)
    cause, history = await stopped_by_a_budget_of_100(ts_env, task_queue, agents, tokens=200)
    assert sorted(r.subtask.id for r in agents.work_requests) == ["a", "b"]
    assert agents.synthesis_requests == []
    assert cause.message == (
        "the run's token budget: 60 spent, the next call needs about 226, the limit is 200"
    )
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert [o.status for o in details.outcomes] == [SubTaskStatus.COMPLETED] * 2
    assert HANDED_TEXT_SIZED in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_budgeted_run_sizes_the_planner_s_second_try_by_the_plan_it_is_handed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The first plan (20 tokens) names a worker type that does not exist; the second try is
    # handed that plan and the problem. Sized by the first call alone, it fitted the 50 and
    # spent past them; sized with what it is handed, the run stops at 20.
    wrong = plan(task("a", "astrologer"))
    agents = FakeOrchestrationAgents(plans=[wrong, plan(task("a"))])
    cause, history = await stopped_by_a_budget_of_100(ts_env, task_queue, agents, tokens=50)
    assert len(agents.plan_requests) == 1
    assert cause.message.startswith("the run's token budget: 20 spent, the next call needs about")
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert details.errors and "astrologer" in details.errors[0]
    assert HANDED_TEXT_SIZED in patch_ids(history.events)


@pytest.mark.usefixtures("replay_check")
async def test_a_dependent_of_a_dependent_is_sized_by_its_own_call_not_its_dependencys_whole(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # a (20) -> b (20 of its own + a's 53 tokens handed: 73) -> c (20 + b's 53: 73). With 200 to
    # spend, 113 are spent when c could start: its call of 73 fits the 87 free. Counted whole,
    # b's 73 plus c's 53 (126) would not, and c never ran; the synthesis after it does not fit.
    chain = plan(task("a", "researcher"), task("b", "analyst", "a"), task("c", "writer", "b"))
    agents = FakeOrchestrationAgents(plans=[chain], output_size=200, context_in_input=True)
    cause, _ = await stopped_by_a_budget_of_100(ts_env, task_queue, agents, tokens=200)
    assert [r.subtask.id for r in agents.work_requests] == ["a", "b", "c"]
    details = OrchestratorFailure.model_validate(cause.details[0])
    assert [u.input_tokens + u.output_tokens for u in details.usage["worker"]] == [20, 73, 73]
