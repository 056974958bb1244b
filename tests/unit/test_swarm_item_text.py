"""``item_text`` finds the text of exactly the input items ``parse_item`` reads as items, without
building them: a swarm's first run sizes its chunks by every item's text, and building 100,000
items for it took most of the SDK's 2 s deadlock limit. Were the two to disagree, a swarm's
chunk size (and so its commands) could change on replay."""

from typing import Any

import pytest

from shared.swarm import SwarmItem
from workflows.swarm import item_text, parse_item

ID, TEXT = "r1", "works well"

INPUTS: list[Any] = [
    {"item_id": ID, "text": TEXT},
    {"item_id": ID, "text": TEXT, "rating": 5},  # other fields are the export's own
    {"item_id": "x" * 100, "text": "y" * 20_000},
    {"item_id": "x" * 101, "text": TEXT},
    {"item_id": ID, "text": "y" * 20_001},
    {"item_id": "", "text": TEXT},
    {"item_id": ID, "text": ""},
    {"item_id": ID, "text": " "},
    {"item_id": "🦜" * 100, "text": "字" * 20_000},  # characters, not bytes
    {"item_id": "🦜" * 101, "text": TEXT},
    {"item_id": 7, "text": TEXT},
    {"item_id": ID, "text": 7},
    {"item_id": True, "text": TEXT},
    {"item_id": ID, "text": None},
    {"item_id": None, "text": TEXT},
    {"item_id": ID, "text": [TEXT]},
    {"item_id": ID, "text": {"body": TEXT}},
    {"item_id": 1.5, "text": TEXT},
    {"text": TEXT},
    {"item_id": ID},
    {},
    [ID, TEXT],
    TEXT,
    None,
    3,
]


@pytest.mark.parametrize("raw", INPUTS, ids=range(len(INPUTS)))
def test_it_reads_the_text_of_exactly_the_items_the_model_accepts(raw: Any) -> None:
    parsed = parse_item(raw, 0)
    expected = parsed.text if isinstance(parsed, SwarmItem) else None
    assert item_text(raw) == expected


def test_both_kinds_are_among_the_inputs() -> None:
    kinds = [isinstance(parse_item(raw, 0), SwarmItem) for raw in INPUTS]
    assert kinds.count(True) >= 4 and kinds.count(False) >= 15
