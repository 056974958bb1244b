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


def test_a_chunk_of_long_items_is_made_smaller_to_keep_its_history_under_the_limit() -> None:
    from shared.command_budget import CHUNK_HISTORY_BYTES, chunk_size_fitting

    chinese = utf8_size("中" * 20_000)  # 62 KB
    assert chunk_size_fitting([utf8_size("a" * 200)] * 10, 500) == 500
    assert chunk_size_fitting([utf8_size("a" * 20_000)] * 10, 500) == 500  # ASCII: 745 fit
    assert chunk_size_fitting([100, chinese], 1_000) == CHUNK_HISTORY_BYTES // chinese == 270
    assert chunk_size_fitting([], 500) == 500
