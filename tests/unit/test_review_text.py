"""A reviewer's text counts and goes out with each line break as one "\n", whichever way it came:
the console's form (browsers send CRLF), the API (it stored CRLF verbatim, so the two disagreed
on the 8,000-character limit) and the CLI's --edit file."""

import pytest
from pydantic import ValidationError

from api.models import ReviewRequest
from shared.review import MAX_EDITED_CHARS, one_break


def test_the_api_takes_crlf_as_one_break_in_what_it_stores_and_counts() -> None:
    edited = ReviewRequest(action="edit", revision=1, edited_text="Hello,\r\nWe refunded you.")
    assert edited.edited_text == "Hello,\nWe refunded you."
    assert ReviewRequest(action="rework", revision=1, notes="a\r\nb").notes == "a\nb"
    # At the limit when each CRLF counts once (it was refused as twice as long).
    lines = "x\r\n" * (MAX_EDITED_CHARS // 2)
    assert len(ReviewRequest(action="edit", revision=1, edited_text=lines).edited_text or "") == (
        MAX_EDITED_CHARS
    )
    with pytest.raises(ValidationError):
        ReviewRequest(action="edit", revision=1, edited_text=lines + "x")


def test_one_break_leaves_other_text_alone() -> None:
    assert one_break("a\nb\rc") == "a\nb\rc"
    assert one_break(None) is None
