"""The share of an orchestrator run's budget a sub-task holds (policy/budget.py subtask_share)."""

from policy.budget import Spend, subtask_share
from shared.pipeline_config import SpendingLimit


def test_a_sub_task_holds_its_calls_worth_within_what_is_neither_spent_nor_held() -> None:
    limit = SpendingLimit(max_tokens=1_000, max_cost_usd=1.0)
    call = Spend(100, 0.05)
    share, problem = subtask_share(limit, spent=Spend(200, 0.1), held=Spend(), call=call, calls=3)
    assert problem is None and share is not None and share.max_tokens == 300
    assert share.max_cost_usd is not None and abs(share.max_cost_usd - 0.15) < 1e-9

    # What the running ones hold is not free: the next one gets the rest, not three calls.
    share, problem = subtask_share(
        limit, spent=Spend(200, 0.1), held=Spend(600, 0.3), call=call, calls=3
    )
    assert problem is None and share is not None
    assert share.max_tokens == 200 and share.max_cost_usd is not None
    assert abs(share.max_cost_usd - 0.15) < 1e-9


def test_a_sub_task_whose_first_call_does_not_fit_does_not_start_and_says_why() -> None:
    limit = SpendingLimit(max_tokens=1_000)
    share, problem = subtask_share(
        limit, spent=Spend(500), held=Spend(450), call=Spend(100), calls=3
    )
    assert share is None and problem is not None
    assert problem == (
        "token budget: 500 spent and 450 held by the sub-tasks running, a sub-task's first call "
        "needs about 100, the limit is 1,000"
    )
    share, problem = subtask_share(
        SpendingLimit(max_cost_usd=0.5), spent=Spend(0, 0.45), held=Spend(), call=Spend(0, 0.1),
        calls=3,
    )  # fmt: skip
    assert share is None and problem is not None and problem.startswith("cost budget: $0.45")
    assert "held" not in problem


def test_with_no_call_measured_the_share_is_what_is_free_and_no_limit_stays_none() -> None:
    share, problem = subtask_share(
        SpendingLimit(max_tokens=1_000), spent=Spend(), held=Spend(), call=Spend(), calls=3
    )
    assert problem is None and share == SpendingLimit(max_tokens=1_000, max_cost_usd=None)
