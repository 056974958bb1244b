"""docs/lifecycle.md's state diagram draws the transition table (policy/transitions.py): every
arrow is a move the table allows, and every move the table allows is drawn, but for the two the
page names in words (a cancel from any state, TRIAGED -> AWAITING_REVIEW)."""

import re
from pathlib import Path

from policy.transitions import TERMINAL_STATES, TRANSITIONS, TicketState

DOC = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"


def drawn() -> set[tuple[str, str]]:
    diagram = DOC.read_text().split("```mermaid", 1)[1].split("```", 1)[0]
    arrows = re.findall(r"^\s*([A-Z_]+) --> ([A-Z_]+)\b", diagram, re.M)
    return set(arrows)


def test_every_arrow_of_the_diagram_is_a_move_the_table_allows() -> None:
    allowed = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    assert drawn() - allowed == set()


def test_every_move_the_table_allows_is_drawn_or_named_in_words() -> None:
    allowed = {(a.value, b.value) for a, targets in TRANSITIONS.items() for b in targets}
    cancels = {(a.value, TicketState.CANCELLED.value) for a in TRANSITIONS}
    named = {(TicketState.TRIAGED.value, TicketState.AWAITING_REVIEW.value)}
    assert allowed - drawn() - cancels == named
    assert "The table also allows TRIAGED → AWAITING_REVIEW" in DOC.read_text()
    assert all(not TRANSITIONS[state] for state in TERMINAL_STATES)
