"""The Bitext customer-support dataset (../shared/data), when present: text nobody in the project
wrote. The project never needs it; benchmarks fall back to the bundled samples without it."""

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.agents import Category
from shared.tickets import Ticket, derive_ticket_id

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PATH = PROJECT_ROOT.parent / "shared" / "data" / "bitext-customer-support.csv"

# The dataset README's mapping onto the product's categories.
CATEGORY_MAP = {
    "ACCOUNT": Category.ACCOUNT,
    "PAYMENT": Category.BILLING,
    "INVOICE": Category.BILLING,
    "REFUND": Category.BILLING,
    "CANCELLATION_FEE": Category.BILLING,
}


@dataclass(frozen=True)
class LabelledTicket:
    ticket: Ticket
    expected: Category
    intent: str


def dataset_path() -> Path:
    return Path(os.environ.get("TICKETS_BENCH_DATA", DEFAULT_PATH))


def load(path: Path | None = None, limit: int | None = None) -> Iterator[LabelledTicket]:
    path = path or dataset_path()
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            if limit is not None and n >= limit:
                return
            text = " ".join(row["instruction"].split())
            subject = text if len(text) <= 80 else text[:77] + "..."
            yield LabelledTicket(
                ticket=Ticket(
                    ticket_id=derive_ticket_id(subject, text, f"bitext-{n}"),
                    subject=subject,
                    body=text,
                    customer_id=f"bitext-{n}",
                ),
                expected=CATEGORY_MAP.get(row["category"], Category.GENERAL),
                intent=row["intent"],
            )
