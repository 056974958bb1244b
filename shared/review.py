"""A person's decision on a ticket awaiting review, and what the workflow answers."""

import unicodedata
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from shared.agents import Draft
from shared.tickets import without_nul

# Longest reviewer name a decision carries ("operator:" names included).
REVIEWER_NAME_LIMIT = 100
# How a review by someone with namespace access is recorded (the CLI's, and a signal's:
# workflows/review_gate.py): the name is self-declared, not a signed-in reviewer's (the API's and
# the console's come from a token).
OPERATOR_PREFIX = "operator:"


def as_operator(name: str) -> str:
    """``name`` recorded as an operator's (once, however often it is given)."""
    return f"{OPERATOR_PREFIX}{name.removeprefix(OPERATOR_PREFIX)}"[:REVIEWER_NAME_LIMIT]


# The longest answer a reviewer may write in (an agent's draft has the same limit).
# No ticket has this many drafts: a revision past it is a mistake (a 4,000-digit one validated).
MAX_REVISION = 1_000_000
MAX_EDITED_CHARS = 8_000
# The longest rework notes and reason to reject.
MAX_NOTES_CHARS = 4_000
MAX_REASON_CHARS = 1_000


# Characters that show nothing though their category says letter or mark: the Hangul and
# halfwidth fillers, blank braille, the combining grapheme joiner, variation selectors.
_BLANK_LOOKING = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u180b\u180c\u180d\u180e\u180f"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)
# Spaces, line and paragraph separators, controls, formatting (zero-width) characters. A
# character unassigned in this Python's tables (Cn: a newer emoji) counts as seen, so workers on
# different Pythons agree on text that holds one.
_BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co"})


def visible(text: str | None) -> bool:
    """Whether ``text`` has a character a reader sees: not only spaces, line breaks, zero-width
    characters (U+200B, U+2060, U+FEFF), fillers and other formatting and control characters,
    which passed the "not empty" check and went to the customer as an empty answer."""
    return any(
        c not in _BLANK_LOOKING and unicodedata.category(c) not in _BLANK_CATEGORIES
        for c in text or ""
    )


def review_text_limits() -> dict[str, int]:
    """Each review text's limit in characters, by field (the console says them by its boxes)."""
    return {"edited_text": MAX_EDITED_CHARS, "notes": MAX_NOTES_CHARS, "reason": MAX_REASON_CHARS}


class ReviewAction(StrEnum):
    APPROVE = "approve"  # send the current draft
    EDIT = "edit"  # replace the draft with the reviewer's text, then send it
    REWORK = "rework"  # back to the resolver with the reviewer's notes
    REJECT = "reject"  # close without sending anything


def one_break(text: str | None) -> str | None:
    """A reviewer's text with each line break as one "\n": browsers send CRLF, and a file
    written on Windows has it; the answer sent and the length counted are the same whichever
    way the text came (the API, the console, the CLI's --edit)."""
    return None if text is None else text.replace("\r\n", "\n")


def run_id_chain(value: str | None) -> str | None:
    """A ticket's chain (its first run id) as the server writes run ids, or None for none given
    ("" included, as the workflow reads it). The workflow compares strings: an uppercase or
    braced spelling was refused as another ticket's review. Raises ValueError for a value that
    is no run id (the caller names where it came from)."""
    if value is None or not value.strip():
        return None
    return str(uuid.UUID(value))


class ReviewDecision(BaseModel):
    action: ReviewAction
    reviewer: str = Field(default="reviewer", min_length=1, max_length=REVIEWER_NAME_LIMIT)
    # The draft revision the reviewer saw. When given, a review of an older draft is refused
    # instead of applied (optimistic concurrency without version columns).
    revision: int | None = Field(default=None, ge=1, le=MAX_REVISION)
    # The reviewer saw no draft (the HTTP API's revision null): refused if one has been written
    # since, so a decision is never applied to a draft its reviewer did not see.
    saw_no_draft: bool = False
    # The ticket's chain (TicketView.chain) the reviewer saw: refused on another ticket under the
    # same id (submitted again after failing), whose revisions count from 1 again.
    chain: str | None = Field(default=None, max_length=64)
    # When the wait for review the reviewer saw began (TicketView.review_wait_began): refused in
    # a later wait. A rework whose resolver failed brings the ticket back with the same draft
    # revision; an approval made on the page from before it (another reviewer's, who never saw
    # the rework's notes or why it failed) was applied, and sent the draft sent back.
    waiting_since: AwareDatetime | None = None
    edited_text: str | None = Field(default=None, max_length=MAX_EDITED_CHARS)
    notes: str | None = Field(default=None, max_length=MAX_NOTES_CHARS)
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)

    @field_validator("reviewer", "edited_text", "notes", "reason", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # The edited text becomes the answer stored in the delivery ledger (tickets.without_nul).
        return without_nul(value)

    @field_validator("waiting_since")
    @classmethod
    def _a_moment_in_utc(cls, value: datetime | None) -> datetime | None:
        # 0001-01-01 at +14:00 is no moment in UTC: comparing passed, saying it in UTC raised
        # OverflowError in the review signal's handler, which failed every workflow task of the
        # ticket from then on (a signal cannot be refused: it stays in the history).
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("not a moment that can be said in UTC") from None
        return value

    @model_validator(mode="after")
    def _fields_match_action(self) -> "ReviewDecision":
        if self.action is ReviewAction.EDIT and not (self.edited_text or "").strip():
            raise ValueError("an edit needs the new text (edited_text)")
        if self.action is ReviewAction.REWORK and not (self.notes or "").strip():
            raise ValueError("a rework needs notes for the resolver")
        if self.action is ReviewAction.REJECT and not (self.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        return self


class ReviewReceipt(BaseModel):
    ticket_id: str
    action: ReviewAction
    revision: int
    accepted_at: datetime
    # Set by the client, never by the workflow: this decision had been applied before (a retry
    # answered with the first one's receipt), so nothing new happened now.
    repeated: bool = False


class ReviewRecord(BaseModel):
    """A review as applied, or, for a signal that did not apply or did not parse, as ignored."""

    decision: ReviewDecision | None
    # What an unparseable signal carried: tickets from before bounded excerpts kept it whole.
    raw: dict[str, Any] | None = None
    raw_excerpt: str | None = None  # the start of its JSON (workflows.review_gate)
    at: datetime
    applied: bool
    note: str = ""


def edited_draft(decision: ReviewDecision) -> Draft:
    return Draft(text=(decision.edited_text or "").strip())
