"""The benchmark's dataset loader, on small files written by the test (never the real data)."""

import csv
from pathlib import Path

import pytest

from bench.dataset import BITEXT, MULTILINGUAL, load
from bench.eval_split import Part, part_of
from shared.agents import Category

BITEXT_ROWS = [
    {"instruction": "how do I get my   money back", "intent": "get_refund", "category": "REFUND"},
    {"instruction": "where is my parcel", "intent": "track_order", "category": "ORDER"},
    {"instruction": "reset my password", "intent": "recover_password", "category": "ACCOUNT"},
]
MULTILINGUAL_ROWS = [
    {
        "subject": "Rechnung fehlt",
        "body": "Die Rechnung für März fehlt.",
        "language": "de",
        "queue": "Billing and Payments",
        "category": "Billing",
    },
    {
        "subject": "Crash on start",
        "body": "The app crashes on start.",
        "language": "en",
        "queue": "Technical Support",
        "category": "Bug Report",
    },
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bitext_rows_are_mapped_onto_the_product_categories(tmp_path: Path) -> None:
    rows = list(load(write_csv(tmp_path / "b.csv", BITEXT_ROWS), dataset=BITEXT))

    assert [r.expected for r in rows] == [Category.BILLING, Category.GENERAL, Category.ACCOUNT]
    assert [r.label for r in rows] == ["get_refund", "track_order", "recover_password"]
    assert rows[0].ticket.body == "how do I get my money back"
    assert {r.language for r in rows} == {"en"}


def test_each_row_carries_the_part_its_raw_text_hashes_to(tmp_path: Path) -> None:
    bitext = list(load(write_csv(tmp_path / "b.csv", BITEXT_ROWS), dataset=BITEXT))
    multi = list(load(write_csv(tmp_path / "m.csv", MULTILINGUAL_ROWS), dataset=MULTILINGUAL))

    assert [r.part for r in bitext] == [part_of(r["instruction"]) for r in BITEXT_ROWS]
    assert [r.part for r in multi] == [part_of(r["subject"], r["body"]) for r in MULTILINGUAL_ROWS]


def test_multilingual_rows_keep_subject_language_queue_and_category(tmp_path: Path) -> None:
    rows = list(load(write_csv(tmp_path / "m.csv", MULTILINGUAL_ROWS), dataset=MULTILINGUAL))

    assert [(r.ticket.subject, r.language, r.expected) for r in rows] == [
        ("Rechnung fehlt", "de", Category.BILLING),
        ("Crash on start", "en", Category.BUG_REPORT),
    ]
    assert rows[1].label == "Technical Support"


@pytest.mark.parametrize("part", list(Part))
def test_asking_for_one_part_yields_only_that_part(tmp_path: Path, part: Part) -> None:
    path = write_csv(tmp_path / "b.csv", BITEXT_ROWS)
    everything = list(load(path, dataset=BITEXT))
    assert {r.part for r in everything} == set(Part), "the rows should cover both parts"

    chosen = list(load(path, dataset=BITEXT, part=part))

    assert [r.ticket for r in chosen] == [r.ticket for r in everything if r.part is part]


def test_the_limit_counts_rows_of_the_chosen_part(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", BITEXT_ROWS)

    assert len(list(load(path, limit=2, dataset=BITEXT))) == 2
    assert list(load(path, limit=0, dataset=BITEXT)) == []


def test_the_data_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETS_BENCH_DATA_DIR", str(tmp_path))

    assert MULTILINGUAL.path() == tmp_path / "multilingual-support-tickets.csv"
