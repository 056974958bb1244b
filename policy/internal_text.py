"""What marks text as the support team's own, not for a customer: an "internal note", an
"INTERNAL:" or "[internal]" label, "not for customers", and TODO or FIXME in capitals (pure:
the offline validator and the review's update validator use it)."""

import re
import unicodedata
from typing import Final

# The labels a person's edit was refused for before patch internal-edit-narrowed: the phrases
# wherever they stand, so "I have added an internal note to your account" was refused too.
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


# What marks a person's edit as pasted from the team's notes: the phrases used as labels, not
# in a sentence. "Internal note:", "INTERNAL -", a line that is only "Not for customers", the
# phrase in brackets ("[internal]", "(internal note)"), the phrase in capitals, TODO, FIXME.
# "I have added an internal note to your account" and "this plan is not for customers in the
# EU" are replies a person may write.
_PHRASE = r"(?:internal(?:[ \t]+(?:note|only))?|not[ \t]+for[ \t]+customers?)"
LABELS_IN_AN_EDIT: Final = re.compile(
    rf"(?im:^[ \t>*#-]*[\[(]?[ \t]*{_PHRASE}[ \t]*[\])]?[ \t]*(?:[:\-\u2013\u2014]|$))"
    rf"|(?i:\binternal(?:[ \t]+note)?[ \t]*:)"
    rf"|(?i:[\[(][ \t]*{_PHRASE}[ \t]*[\])])"
    r"|\bINTERNAL NOTE\b|\bNOT FOR CUSTOMERS?\b|\bTODO\b|\bFIXME\b"
)


def internal_label(text: str) -> str | None:
    """The first phrase of ``INTERNAL_LABELS`` in ``text`` as a reader sees it (``as_read``),
    or None: the rule a person's edit was held to before patch internal-edit-narrowed."""
    found = INTERNAL_LABELS.search(as_read(text))
    return found.group(0) if found else None


def label_in_an_edit(text: str) -> str | None:
    """The first label of the team's own notes in a person's edited reply, as a reader sees it
    (``as_read``; ``LABELS_IN_AN_EDIT``), stripped, or None."""
    found = LABELS_IN_AN_EDIT.search(as_read(text))
    return found.group(0).strip() if found else None
