"""A ticket's spend over its runs, read from memos (shared/run_spend.py)."""

from shared import run_spend
from shared import search_attributes as sa

FAILED_RUN = {
    "tokens": 120,
    "cost_usd": 0.0012,
    "calls": 1,
    "trimmed_tokens": 0,
    "estimated_tokens": 0,
    "agents": {
        "classifier": {"tokens": 120, "estimated_tokens": 0, "cost_usd": 0.0012, "calls": 1}
    },
}
RESTART = {
    "tokens": 900,
    "cost_usd": 0.0101,
    "calls": 4,
    "trimmed_tokens": 30,
    "estimated_tokens": 0,
    "agents": {
        "classifier": {"tokens": 100, "estimated_tokens": 0, "cost_usd": 0.001, "calls": 1},
        "resolver": {"tokens": 800, "estimated_tokens": 0, "cost_usd": 0.0091, "calls": 3},
    },
}


def test_a_memo_without_earlier_runs_is_its_own_usage() -> None:
    spent = run_spend.spent({sa.MEMO_USAGE: RESTART})
    assert (spent["calls"], spent["tokens"], spent["cost_usd"]) == (4, 900, 0.0101)
    assert spent["agents"]["resolver"]["calls"] == 3


def test_a_restart_counts_what_its_earlier_run_spent_by_agent_too() -> None:
    carried = run_spend.carried_forward({sa.MEMO_USAGE: FAILED_RUN})
    assert carried is not None and carried["runs"] == 1

    spent = run_spend.spent({sa.MEMO_USAGE: RESTART, sa.MEMO_EARLIER_USAGE: carried})

    assert (spent["calls"], spent["tokens"], spent["trimmed_tokens"]) == (5, 1020, 30)
    assert spent["cost_usd"] == 0.0113
    assert spent["agents"]["classifier"] == {
        "tokens": 220,
        "estimated_tokens": 0,
        "cost_usd": 0.0022,
        "calls": 2,
    }
    assert spent["agents"]["resolver"]["calls"] == 3


def test_a_second_restart_carries_every_earlier_run() -> None:
    first = run_spend.carried_forward({sa.MEMO_USAGE: FAILED_RUN})
    second = run_spend.carried_forward({sa.MEMO_USAGE: FAILED_RUN, sa.MEMO_EARLIER_USAGE: first})
    assert second is not None
    assert (second["runs"], second["calls"], second["agents"]["classifier"]["calls"]) == (2, 2, 2)


def test_a_run_that_spent_nothing_carries_nothing_and_reads_as_nothing() -> None:
    assert run_spend.carried_forward({}) is None
    assert run_spend.spent({}) == {}
    # A restart of a run that made no call but carried earlier spend still carries it.
    carried = run_spend.carried_forward({sa.MEMO_EARLIER_USAGE: {**FAILED_RUN, "runs": 1}})
    assert carried is not None and (carried["runs"], carried["calls"]) == (2, 1)


def test_odd_values_in_a_memo_count_as_nothing() -> None:
    # Memos are written by this code, but one edited by hand must not break every listing.
    odd = {"calls": "3", "tokens": None, "cost_usd": True, "agents": {"x": "y", "z": {"calls": 2}}}
    spent = run_spend.spent({sa.MEMO_USAGE: odd})
    assert (spent["calls"], spent["tokens"], spent["cost_usd"]) == (0, 0, 0)
    assert spent["agents"] == {"z": {"tokens": 0, "estimated_tokens": 0, "cost_usd": 0, "calls": 2}}
    assert run_spend.spent({sa.MEMO_USAGE: "not totals"}) == {}


def test_what_the_earlier_runs_spent_is_shown_apart_from_the_runs_own() -> None:
    first = {sa.MEMO_USAGE: FAILED_RUN}
    second = {sa.MEMO_USAGE: RESTART, sa.MEMO_EARLIER_USAGE: run_spend.carried_forward(first)}
    third = {sa.MEMO_EARLIER_USAGE: run_spend.carried_forward(second)}

    assert run_spend.EarlierRuns.of(first) is None  # a first run replaced none
    assert run_spend.EarlierRuns.of(second) == run_spend.EarlierRuns(
        runs=1, calls=1, tokens=120, estimated_tokens=0, cost_usd=0.0012
    )
    earlier = run_spend.EarlierRuns.of(third)
    assert earlier is not None and (earlier.runs, earlier.calls, earlier.tokens) == (2, 5, 1020)
