"""Labelled support tickets from ../shared/data, when present: text nobody in the project wrote.

Two datasets (see that folder's README): Bitext's English customer-support requests, and
helpdesk tickets in English and German whose ``category`` column is already mapped onto the
product's categories. The project never needs them: benchmarks skip, or fall back to the bundled
samples, without them. Every row carries its part of the evaluation split (bench/eval_split.py).
"""

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from bench.eval_split import Part, part_of
from shared.agents import Category
from shared.tickets import Ticket, derive_ticket_id

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"

# The Bitext README's mapping onto the product's categories; every other category is General.
BITEXT_CATEGORY_MAP = {
    "ACCOUNT": Category.ACCOUNT,
    "PAYMENT": Category.BILLING,
    "INVOICE": Category.BILLING,
    "REFUND": Category.BILLING,
    "CANCELLATION_FEE": Category.BILLING,
}
BITEXT_SUBJECT_CHARS = 80  # Bitext requests have no subject: the start of the text stands in


@dataclass(frozen=True)
class LabelledTicket:
    ticket: Ticket
    expected: Category
    part: Part
    language: str  # ISO 639-1 code, as the dataset states it
    label: str  # the dataset's own finer label: Bitext's intent, the helpdesk queue


@dataclass(frozen=True)
class Dataset:
    name: str
    filename: str
    read: Callable[[Path], Iterator[LabelledTicket]]

    def path(self) -> Path:
        return data_dir() / self.filename


def data_dir() -> Path:
    return Path(os.environ.get("TICKETS_BENCH_DATA_DIR", DEFAULT_DATA_DIR))


def _bitext(path: Path) -> Iterator[LabelledTicket]:
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            text = " ".join(row["instruction"].split())
            subject = text if len(text) <= BITEXT_SUBJECT_CHARS else text[:77] + "..."
            yield LabelledTicket(
                ticket=Ticket(
                    ticket_id=derive_ticket_id(subject, text, f"bitext-{n}"),
                    subject=subject,
                    body=text,
                    customer_id=f"bitext-{n}",
                ),
                expected=BITEXT_CATEGORY_MAP.get(row["category"], Category.GENERAL),
                part=part_of(row["instruction"]),
                language="en",
                label=row["intent"],
            )


def _multilingual(path: Path) -> Iterator[LabelledTicket]:
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            subject, body = row["subject"], row["body"]
            yield LabelledTicket(
                ticket=Ticket(
                    ticket_id=derive_ticket_id(subject, body, f"multilingual-{n}"),
                    subject=subject,
                    body=body,
                    customer_id=f"multilingual-{n}",
                ),
                expected=Category(row["category"]),
                part=part_of(subject, body),
                language=row["language"],
                label=row["queue"],
            )


BITEXT = Dataset("bitext", "bitext-customer-support.csv", _bitext)
MULTILINGUAL = Dataset("multilingual", "multilingual-support-tickets.csv", _multilingual)
DATASETS = (BITEXT, MULTILINGUAL)


def dataset_path() -> Path:
    """Where the Bitext requests are (the throughput benchmarks' workload)."""
    return BITEXT.path()


def load(
    path: Path | None = None,
    limit: int | None = None,
    *,
    dataset: Dataset = BITEXT,
    part: Part | None = None,
) -> Iterator[LabelledTicket]:
    """The dataset's rows in file order; only one part's when ``part`` is given."""
    rows = dataset.read(path or dataset.path())
    if part is not None:
        rows = (row for row in rows if row.part is part)
    return islice(rows, limit)
