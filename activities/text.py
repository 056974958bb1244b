"""Small text helpers shared by the offline agents, the knowledge base and input trimming."""

import re
from typing import Final

from policy.text_budget import estimate_tokens

__all__ = ["STOPWORDS", "content_words", "estimate_tokens", "sentences", "words"]

_WORD = re.compile(r"[a-z0-9][a-z0-9'+-]*")

STOPWORDS: Final = frozenset(
    """
    a about above after again all also am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each few for
    from further get got had has have having he her here hers him his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our
    ours out over own please same she should so some such than thank thanks that the their
    them then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours hi hello hey
    dear regards best team support help need want like know one also would could get still
    yet even really much many
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """Lower-cased words that carry meaning (no stopwords, at least three letters), a
    hyphenated word's parts too: "double-charged" shared nothing with an article on charges,
    nor "locked-out" with one on being locked out (a review, 2026-12-07)."""
    found = set(words(text))
    found |= {part for w in found if "-" in w for part in w.split("-")}
    return {w for w in found if len(w) >= 3 and w not in STOPWORDS}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
