"""How many starts fit in one workflow task's commands (shared/command_budget.py)."""

from shared.command_budget import GROUP_BYTES, START_ALLOWANCE_BYTES, fitting, utf8_size


def test_sizes_count_utf8_bytes_and_an_allowance() -> None:
    assert utf8_size("abc") == 3 + START_ALLOWANCE_BYTES
    assert utf8_size("中" * 10, None, "😀") == 30 + 4 + START_ALLOWANCE_BYTES


def test_a_group_is_cut_where_the_budget_runs_out_and_never_below_one() -> None:
    assert fitting([100] * 100) == 100
    assert fitting([GROUP_BYTES // 4] * 10) == 4
    assert fitting([GROUP_BYTES * 2, 10]) == 1
    assert fitting([]) == 0
    assert fitting([utf8_size("中" * 20_000)] * 100) == 33
