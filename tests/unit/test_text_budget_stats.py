"""Token estimates, fitting text to a budget (head and tail kept), and nearest-rank percentiles."""

import pytest

from policy.stats import percentile
from policy.text_budget import estimate_tokens, fit_to_tokens

# ---- estimate_tokens -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("x" * 400, 100), ("x" * 401, 101)],
)
def test_estimate_tokens_is_characters_over_four_rounded_up(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


# ---- fit_to_tokens -------------------------------------------------------------------------------


def test_text_within_the_budget_is_returned_unchanged() -> None:
    text = "x" * 40
    assert fit_to_tokens(text, 10) is text
    assert fit_to_tokens("", 0) == ""


def test_text_over_the_budget_keeps_three_quarters_head_and_one_quarter_tail() -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    fitted = fit_to_tokens(text, 10)  # 40 characters: 30 from the start, 10 from the end
    assert fitted == f"{text[:30]}\n[... 960 characters trimmed ...]\n{text[-10:]}"


def test_the_trim_marker_counts_with_thousands_separators() -> None:
    text = "H" * 30 + "m" * 5_000 + "T" * 10
    fitted = fit_to_tokens(text, 10)
    assert fitted == "H" * 30 + "\n[... 5,000 characters trimmed ...]\n" + "T" * 10


def test_the_conclusion_at_the_end_survives_trimming() -> None:
    text = "Intro. " + "filler " * 500 + "The error is ERR-42."
    fitted = fit_to_tokens(text, 20)
    assert fitted.startswith("Intro. ")
    assert fitted.endswith("ERR-42.")
    assert len(fitted) < len(text)


def test_a_text_one_token_over_the_budget_is_trimmed() -> None:
    text = "abcdefghi"  # 9 characters: 3 tokens
    assert fit_to_tokens(text, 3) == text
    assert fit_to_tokens(text, 2) == "abcdef\n[... 1 characters trimmed ...]\nhi"


def test_a_zero_budget_keeps_none_of_the_text() -> None:
    fitted = fit_to_tokens("abcdefghij", 0)
    assert "abcdefghij" not in fitted


# ---- percentile ----------------------------------------------------------------------------------


def test_percentile_of_no_values_is_zero() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([], 99) == 0.0


@pytest.mark.parametrize("q", [0, 1, 50, 95, 99, 100])
def test_percentile_of_one_value_is_that_value(q: float) -> None:
    assert percentile([7.5], q) == 7.5


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0, 1), (10, 1), (11, 2), (50, 5), (51, 6), (90, 9), (95, 10), (99, 10), (100, 10)],
)
def test_percentile_by_nearest_rank_of_ten_values(q: float, expected: float) -> None:
    values = [10, 3, 7, 1, 9, 2, 8, 4, 6, 5]  # unordered on purpose
    assert percentile(values, q) == expected


def test_percentile_of_a_hundred_values_hits_the_rank_exactly() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0


def test_percentile_does_not_reorder_the_caller_s_list() -> None:
    values = [3.0, 1.0, 2.0]
    percentile(values, 50)
    assert values == [3.0, 1.0, 2.0]


def test_percentile_rank_is_not_pushed_up_by_floating_point_error() -> None:
    assert percentile([float(v) for v in range(1, 101)], 7) == 7.0
