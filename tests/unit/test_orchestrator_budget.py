"""How an orchestrator run estimates a sub-task's first call (workflows/orchestrator_budget.py):
the largest call so far, or, for a sub-task handed earlier results, the largest call so far
without its own context plus this one's, whichever is more."""

from shared.agents import Usage
from shared.pipeline_config import SpendingLimit
from workflows.orchestrator_budget import RunBudget


def usage(tokens: int, cost_usd: float) -> Usage:
    return Usage(
        provider="p", model="m", input_tokens=tokens - 10, output_tokens=10, cost_usd=cost_usd
    )


def test_a_dependent_call_adds_its_context_to_the_largest_call_without_one() -> None:
    budget = RunBudget(SpendingLimit(max_tokens=10_000))
    budget.count("planner", usage(20, 0.002))
    # A dependent's call of 73 tokens, 53 of them the results it was handed: 20 of its own.
    budget.count("worker", usage(73, 0.0073), context_tokens=53)

    # No context, or one no larger than the largest call's: the largest call so far.
    assert (budget.first_call(0).tokens, budget.first_call(53).tokens) == (73, 73)
    # Its context counted once, not on top of the 53 the largest call carried already.
    assert budget.first_call(60).tokens == 80
    # Cost at the largest call's cost per token.
    assert abs(budget.first_call(146).cost_usd - 0.0166) < 1e-9
    # The share a sub-task starting now holds carries the estimate its later calls are held to.
    share, problem = budget.share(ready=1, call=budget.first_call(60))
    assert problem is None and share is not None and share.call_tokens == 80


def test_a_context_larger_than_a_call_counts_the_call_as_all_context() -> None:
    budget = RunBudget(SpendingLimit(max_tokens=10_000))
    budget.count("worker", usage(30, 0.003), context_tokens=500)  # an estimate above the count
    assert budget.first_call(10).tokens == 30  # the largest call; nothing of its own left


def test_the_planners_call_is_no_sub_tasks_own_size() -> None:
    # A review's example: a plan of 1,500 tokens, a sub-task of 1,000 whose answer (800) its
    # dependent is handed. The dependent's call is about 1,000 + 800; counted from the plan's
    # 1,500 it was 2,300, and a run with 1,900 free stopped where the call fitted.
    budget = RunBudget(SpendingLimit(max_tokens=4_400))
    budget.count("planner", usage(1_500, 0.0))
    budget.count("worker", usage(1_000, 0.0))
    assert budget.first_call(800).tokens == 1_800


def test_a_context_counts_when_no_call_reported_tokens() -> None:
    budget = RunBudget(SpendingLimit(max_tokens=10_000))
    budget.count(
        "worker", usage(10, 0.001).model_copy(update={"input_tokens": 0, "output_tokens": 0})
    )
    assert budget.first_call(50).tokens == 50


def test_a_dependent_costs_at_the_priciest_worker_calls_rate() -> None:
    # The planner's call is the largest (a cheap model); a worker's model costs ten times as
    # much a token: the dependent is priced as a worker's call, not at the planner's rate.
    budget = RunBudget(SpendingLimit(max_cost_usd=1.0))
    budget.count("planner", usage(1_000, 0.001))
    budget.count("worker", usage(100, 0.001))
    estimate = budget.first_call(1_900)  # 100 of its own and 1,900 handed: 2,000 tokens
    assert estimate.tokens == 2_000 and abs(estimate.cost_usd - 0.02) < 1e-12
