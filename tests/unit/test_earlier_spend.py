"""What a restarted ticket's earlier runs spent, as its budget counts it (policy/budget.py)."""

import math

from policy.budget import EarlierSpend, earlier_spend


def test_earlier_spend_reads_the_memos_totals_and_its_average_call() -> None:
    spent = earlier_spend({"tokens": 45, "cost_usd": 0.003, "calls": 2, "runs": 1})

    assert spent == EarlierSpend(tokens=45, cost_usd=0.003, calls=2)
    assert (spent.tokens_per_call, spent.cost_per_call) == (23, 0.0015)  # rounded up
    assert EarlierSpend(tokens=10, cost_usd=0.0).tokens_per_call == 0  # no calls counted


def test_nothing_spent_or_nothing_readable_is_no_earlier_spend() -> None:
    assert earlier_spend(None) is None
    assert earlier_spend("12 tokens") is None
    assert earlier_spend({"tokens": 0, "cost_usd": 0.0}) is None
    assert earlier_spend({"tokens": True, "cost_usd": "0.5"}) is None


def test_numbers_that_are_not_finite_or_are_negative_count_as_none() -> None:
    # A NaN cost would never trip the budget (every comparison with it is false), and hand the
    # orchestrator a NaN limit; an infinite one would hand every restart to a person at once.
    # A 400-digit integer (a memo set outside the project) raised OverflowError in workflow
    # code: every workflow task of the ticket failed.
    for bad in (math.nan, math.inf, -math.inf, -5, 10**400):
        spent = earlier_spend({"tokens": 30, "cost_usd": bad, "calls": 1})
        assert spent == EarlierSpend(tokens=30, cost_usd=0.0, calls=1), bad
    assert earlier_spend({"tokens": 30.0, "calls": 1.0}) == EarlierSpend(30, 0.0, 1)
