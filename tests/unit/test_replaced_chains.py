"""Which runs a restart names as replaced (shared/operations.py replaced_chains): the ended run
and every run it had replaced, so an answer any of them sent is not sent again."""

from shared import search_attributes as sa
from shared.operations import MAX_REPLACED_CHAINS, replaced_chains


def test_a_restart_names_the_ended_run_and_the_runs_it_had_replaced() -> None:
    # Run A sent its answer and was terminated; B replaced it and failed before delivering;
    # C, replacing B, must know about A too.
    assert replaced_chains({}, "run-a") == ["run-a"]
    assert replaced_chains({sa.MEMO_REPLACES_CHAINS: ["run-a"]}, "run-b") == ["run-a", "run-b"]
    assert replaced_chains({sa.MEMO_REPLACES_CHAINS: ["run-a", "run-a"]}, "run-a") == ["run-a"]


def test_odd_memo_values_are_ignored_and_the_list_is_bounded() -> None:
    assert replaced_chains({sa.MEMO_REPLACES_CHAINS: "run-a"}, None) == []
    assert replaced_chains({sa.MEMO_REPLACES_CHAINS: [3, "", "run-a"]}, None) == ["run-a"]
    many = [f"run-{i}" for i in range(MAX_REPLACED_CHAINS + 30)]
    kept = replaced_chains({sa.MEMO_REPLACES_CHAINS: many}, "run-new")
    # The first run (often the one that answered before the restarts) and the newest.
    assert len(kept) == MAX_REPLACED_CHAINS and kept[:2] == ["run-0", "run-32"]
    assert kept[-1] == "run-new"
    assert replaced_chains({sa.MEMO_REPLACES_CHAINS: kept}, "run-newer")[:2] == ["run-0", "run-33"]
