"""What marks text as the support team's own, not for a customer: an "internal note", an
"INTERNAL:" or "[internal]" label, "not for customers", and TODO or FIXME in capitals (pure:
the offline validator and the review's update validator use it)."""

import re
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


def internal_label(text: str) -> str | None:
    """The first unambiguous internal label in ``text``, as written, or None."""
    found = INTERNAL_LABELS.search(text)
    return found.group(0) if found else None
