"""The offline_accuracy benchmark: skips without data, labels every figure with its part."""

import csv
from pathlib import Path

import pytest

from bench import offline_accuracy
from bench.accuracy_scores import Scores, Tally
from bench.offline_pipeline import Outcome
from shared.agents import Category

HELPDESK_ROWS = [
    ("Forgot my password", "I forgot my password, how do I reset it?", "Technical"),
    ("Invoice copy", "Please send me a copy of the March invoice as a PDF.", "Billing"),
    ("App crashes", "The app crashes when I upload a photo.", "Bug Report"),
    ("Please add dark mode", "It would be great to have a dark mode.", "Feature Request"),
]


def outcome(category: Category, *reasons: str) -> Outcome:
    return Outcome(
        category=category,
        confidence=0.9,
        review_reasons=list(reasons),
        grounded=True,
        revision_rounds=0,
    )


def test_the_benchmark_says_it_skipped_when_no_data_file_is_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TICKETS_BENCH_DATA_DIR", str(tmp_path))

    assert offline_accuracy.main([]) == 0

    out = capsys.readouterr().out
    assert "skipped bitext" in out
    assert "skipped multilingual" in out
    assert "Summary" not in out


def test_every_figure_says_which_dataset_and_part_it_was_measured_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with (tmp_path / "multilingual-support-tickets.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subject", "body", "language", "queue", "tags", "priority", "category"])
        for n in range(40):  # enough rows that both parts have some
            for subject, body, category in HELPDESK_ROWS:
                writer.writerow([f"{subject} {n}", body, "en", "q", "", "low", category])
    monkeypatch.setenv("TICKETS_BENCH_DATA_DIR", str(tmp_path))

    assert offline_accuracy.main(["--dataset", "multilingual", "--part", "both"]) == 0

    out = capsys.readouterr().out
    assert "### multilingual, development part" in out
    assert "### multilingual, held-out part" in out
    summary = out.split("### Summary", 1)[1]
    assert "| multilingual, development | " in summary
    assert "| multilingual, held-out | " in summary

    # Without --part, only the development part: held-out figures are shown only when asked.
    assert offline_accuracy.main(["--dataset", "multilingual"]) == 0
    out = capsys.readouterr().out
    assert "### multilingual, development part" in out and "held-out part" not in out
    assert "| multilingual, held-out |" not in out


def test_a_tally_counts_auto_answers_and_the_right_ones_among_them() -> None:
    tally = Tally()
    tally.add(outcome(Category.BILLING), right=True)
    tally.add(outcome(Category.BILLING), right=False)
    tally.add(outcome(Category.ACCOUNT, "priority is Urgent"), right=True)

    assert (tally.total, tally.correct, tally.auto, tally.auto_correct) == (3, 2, 2, 1)
    assert tally.row("x") == ("| x | 3 | 66.7% (2 of 3) | 66.7% (2 of 3) | 50.0% (1 of 2) |")


def test_no_auto_answers_shows_no_precision_rather_than_a_made_up_one() -> None:
    tally = Tally()
    tally.add(outcome(Category.BILLING, "classifier confidence 0.30"), right=True)

    assert tally.row("x").endswith("| - (0 of 0) |")


def test_scores_split_by_expected_category_and_language() -> None:
    scores = Scores()
    scores.add(outcome(Category.BILLING), Category.BILLING, "en")
    scores.add(outcome(Category.GENERAL, "low confidence"), Category.BILLING, "de")

    assert scores.by_expected[Category.BILLING].total == 2
    assert scores.by_language["de"].auto == 0
    assert "| labelled language de | 1 |" in scores.report()
    assert "expected Billing (else mostly General)" in scores.report()
