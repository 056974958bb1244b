"""The share of an orchestrator run's budget a sub-task holds (policy/budget.py subtask_share)."""

import pytest

from policy.budget import Spend, subtask_share
from shared.pipeline_config import SpendingLimit


def test_what_is_free_is_shared_among_the_sub_tasks_ready_to_start() -> None:
    limit = SpendingLimit(max_tokens=1_000, max_cost_usd=1.0)
    call = Spend(100, 0.05)
    share, problem = subtask_share(limit, spent=Spend(200, 0.1), held=Spend(), call=call, ready=2)
    assert problem is None and share is not None
    assert share.max_tokens == 400 and share.max_cost_usd == pytest.approx(0.45)

    # The next one of the two: what the first holds is not free.
    share, problem = subtask_share(
        limit, spent=Spend(200, 0.1), held=Spend(400, 0.45), call=call, ready=1
    )
    assert problem is None and share is not None
    assert share.max_tokens == 400 and share.max_cost_usd == pytest.approx(0.45)

    # One alone may spend all that is free: no cap in calls.
    share, _ = subtask_share(limit, spent=Spend(200, 0.1), held=Spend(), call=call, ready=1)
    assert share is not None and share.max_tokens == 800


def test_only_as_many_parts_as_one_call_fits_for() -> None:
    # 290 free, calls of 120: two of three ready sub-tasks can start, each with 145.
    limit = SpendingLimit(max_tokens=410)
    share, problem = subtask_share(limit, spent=Spend(120), held=Spend(), call=Spend(120), ready=3)
    assert problem is None and share is not None and share.max_tokens == 145
    share, problem = subtask_share(
        limit, spent=Spend(120), held=Spend(145), call=Spend(120), ready=2
    )
    assert problem is None and share is not None and share.max_tokens == 145
    share, problem = subtask_share(
        limit, spent=Spend(120), held=Spend(290), call=Spend(120), ready=1
    )
    assert share is None and problem is not None


def test_a_sub_task_whose_first_call_does_not_fit_does_not_start_and_says_why() -> None:
    share, problem = subtask_share(
        SpendingLimit(max_tokens=1_000), spent=Spend(950), held=Spend(), call=Spend(100), ready=1
    )
    assert share is None
    assert problem == (
        "token budget: 950 spent, a sub-task's first call needs about 100, the limit is 1,000"
    )
    share, problem = subtask_share(
        SpendingLimit(max_cost_usd=0.5), spent=Spend(0, 0.45), held=Spend(), call=Spend(0, 0.1),
        ready=1,
    )  # fmt: skip
    assert share is None and problem is not None and problem.startswith("cost budget: $0.45")


def test_with_no_call_measured_what_is_free_is_still_shared_and_held() -> None:
    # An unpriced planner (cost 0) and priced workers: each parallel sub-task gets its part of
    # the free cost, not all of it.
    limit = SpendingLimit(max_cost_usd=1.0)
    share, problem = subtask_share(limit, spent=Spend(), held=Spend(), call=Spend(), ready=4)
    assert problem is None and share is not None
    assert share.max_cost_usd == pytest.approx(0.25) and share.max_tokens is None
