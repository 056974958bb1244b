"""What marks text as the support team's own, not for a customer: an "internal note", an
"INTERNAL:" or "[internal]" label, "not for customers", and TODO or FIXME in capitals (pure:
the offline validator and the review's update validator use it)."""

import re
import unicodedata
from typing import Final

# Unambiguous labels only, for any reply (a person's edit too).
INTERNAL_LABELS: Final = re.compile(
    r"(?i:\binternal note\b|\binternal:|\[internal\]|\bnot for customers?\b)"
    r"|\bTODO\b|\bFIXME\b"  # upper case only: "your todo list" is fine in a reply
)
# And "do not share", which a note says of itself; a model's or a template's reply is checked
# for it too, a person's is not ("please do not share your password" is advice to a customer).
INTERNAL_MARKERS: Final = re.compile(
    r"(?i:\binternal note\b|\binternal:|\[internal\]|\bdo not share\b|\bnot for customers?\b)"
    r"|\bTODO\b|\bFIXME\b"
)


# Apostrophes as typed on phones and by word processors, read as the plain one.
_APOSTROPHES: Final = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def as_read(text: str) -> str:
    """``text`` as a reader sees it: compatibility forms folded (NFKC: a no-break space is a
    space, a fullwidth letter a letter), invisible format characters dropped (a zero-width
    space, a soft hyphen), curly apostrophes plain. "Internal\u00a0note:", "TO\u200bDO" and
    "I\u2019ve refunded" got past rules written for what they read as (a review, 2026-12-07)."""
    folded = unicodedata.normalize("NFKC", text)
    shown = "".join(c for c in folded if unicodedata.category(c) != "Cf")
    return shown.translate(_APOSTROPHES)


def internal_label(text: str) -> str | None:
    """The first unambiguous internal label in ``text`` as a reader sees it (``as_read``), or
    None."""
    found = INTERNAL_LABELS.search(as_read(text))
    return found.group(0) if found else None
