"""The label-ceiling benchmark's arithmetic, and what it says without scikit-learn."""

import csv
import math
import sys
from pathlib import Path

import pytest

from bench import label_ceiling
from bench.label_ceiling import precision_at, widest_coverage


def test_precision_counts_only_the_surest_share() -> None:
    confidences = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    right = [True, True, False, True, True, False, False, False, False, False]

    assert precision_at(confidences, right, 0.2) == 1.0
    assert precision_at(confidences, right, 0.3) == pytest.approx(2 / 3)
    assert precision_at(confidences, right, 0.5) == pytest.approx(4 / 5)
    assert precision_at(confidences, right, 1.0) == pytest.approx(4 / 10)


def test_order_is_by_confidence_not_by_position() -> None:
    assert precision_at([0.1, 0.9], [False, True], 0.5) == 1.0
    assert precision_at([0.9, 0.1], [False, True], 0.5) == 0.0


def test_a_share_too_small_for_one_item_has_no_precision() -> None:
    assert math.isnan(precision_at([0.9, 0.8], [True, True], 0.1))


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="3 confidences for 2 outcomes"):
        precision_at([0.1, 0.2, 0.3], [True, False], 0.5)


def test_the_widest_share_at_the_target_precision() -> None:
    # Surest first: R R R R R R R R R W | W W ...: 9 of 10 right is exactly 90%.
    confidences = [1 - n / 20 for n in range(20)]
    right = [True] * 9 + [False] * 11

    assert widest_coverage(confidences, right) == 0.5  # 10 of 20 taken
    assert widest_coverage(confidences, right, precision=1.0) == pytest.approx(9 / 20)
    assert widest_coverage([0.9, 0.1], [False, True]) == 0.0  # the surest one is wrong
    assert widest_coverage([], []) == 0.0


def test_without_scikit_learn_it_says_what_to_install_and_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError

    assert label_ceiling.main([]) == 0

    out = capsys.readouterr().out
    assert "skipped: label_ceiling needs scikit-learn" in out
    assert "pip install 'scikit-learn==1.9.1'" in out


def test_a_dataset_part_too_small_to_fit_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with (tmp_path / "multilingual-support-tickets.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "body", "language", "queue", "tags", "priority", "category"])
        for n in range(6):
            writer.writerow(
                [f"Invoice {n}", "Please resend the invoice.", "de", "q", "", "low", "Billing"]
            )
    monkeypatch.setenv("TICKETS_BENCH_DATA_DIR", str(tmp_path))
    # Stands in for the scikit-learn models: the guard must stop before anything is fitted.
    monkeypatch.setattr(label_ceiling, "_models", lambda: [("fake model", None, None)])

    assert label_ceiling.main(["--dataset", "multilingual", "--language", "de"]) == 0

    out = capsys.readouterr().out
    assert "skipped multilingual, labelled de:" in out
    assert "in 1 categories" in out
