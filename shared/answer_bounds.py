"""Bounds on what a model's answer may hold, applied as the answer is read: cut, never refused.

A model's output limit bounds what a real model writes (2,048 tokens by default), but an
OpenAI-compatible server is not held to it: one answered a sub-task with 3 MB, which the stream's
byte limit (about 9 MB at that output limit) let through, and nothing bounded its lists of
sources or findings (a review, 2026-12-07).
Cut rather than refused, as the plan's rationale is: an answer too long is still an answer, and
a result recorded before a bound was set reads the same way on replay (cut the same).
"""

from typing import Final

# A sub-task's output or a synthesis: far past what a model writes under any output limit it is
# given (2,048 tokens by default, about 8,000 characters; 32,768 about 130,000), so only a server
# not held to its limit is cut; large outputs still travel by reference to the payload store
# (tests/workflow/test_orchestrator.py), each later prompt trims them to its share, and a
# synthesis past a reply's 8,000 characters falls back to the single resolver, cut or not.
MAX_ANSWER_CHARS: Final = 2_000_000
# Lists of short names (sources, cited articles, gaps, findings): how many, and how long each.
MAX_LISTED: Final = 50
MAX_LISTED_CHARS: Final = 200


def cut_text(value: object, limit: int = MAX_ANSWER_CHARS) -> object:
    """A text cut to ``limit`` characters; anything else as it is (the model refuses it)."""
    return value[:limit] if isinstance(value, str) else value


def cut_list(value: object, item_chars: int | None = MAX_LISTED_CHARS) -> object:
    """A list cut to MAX_LISTED items, each text cut to ``item_chars`` (None: items as they
    are, for lists of objects); anything else as it is."""
    if not isinstance(value, list):
        return value
    kept = value[:MAX_LISTED]
    if item_chars is None:
        return kept
    return [item[:item_chars] if isinstance(item, str) else item for item in kept]
