"""How many starts fit in one workflow task's commands.

A workflow task's completion (every command it issues, with their payloads) is one gRPC message,
and the server refuses one over 4 MB: the task fails for good and the server terminates the
workflow. Fan-out workflows start up to 100 children or calls per task, each carrying a ticket
or an item of up to 20,000 characters: 20 KB in ASCII, but 60 KB in Chinese and 80 KB in emoji
(UTF-8), so 100 of them came to 6-8 MB. A group is cut at GROUP_BYTES of estimated payload (a
generous estimate: text bytes, plus a fixed allowance for ids, metadata and encryption).
"""

import json
from collections.abc import Sequence
from typing import Final

# Half the server's limit: room for the commands themselves and a search attribute or two.
GROUP_BYTES: Final = 2 * 1024 * 1024
# Per start, besides its text: ids, options, the memo, headers, encryption's nonce and tag.
START_ALLOWANCE_BYTES: Final = 2 * 1024


def utf8_size(*texts: str | None) -> int:
    return sum(len(t.encode()) for t in texts if t) + START_ALLOWANCE_BYTES


def encoded_size(*texts: str | None) -> int:
    """What the texts take once encoded as the JSON they travel in, plus the allowance: JSON
    escapes a control character as six bytes (\\u0001) and a quote, backslash or newline as two,
    so 20,000 characters of \\x01 are 120 KB, not the 20 KB ``utf8_size`` counts; a swarm of
    such items went past the 4 MB message limit and its chunk was terminated. Deterministic
    (workflow code may use it)."""
    return (
        sum(len(json.dumps(t, ensure_ascii=False).encode()) - 2 for t in texts if t)
        + START_ALLOWANCE_BYTES
    )


def fitting(sizes: Sequence[int], budget: int = GROUP_BYTES) -> int:
    """How many of ``sizes``, from the first, fit in ``budget`` together (at least one: a start
    that does not fit alone is under the 20,000-character limit, so it still fits the server's
    message limit alone)."""
    total = 0
    for count, size in enumerate(sizes):
        total += size
        if total > budget:
            return max(1, count)
    return len(sizes)


# What one swarm chunk's items may add to its history (each item's text is in its activity's
# scheduled event): a third of Temporal's 50 MB history limit, leaving room for the results.
CHUNK_HISTORY_BYTES: Final = 16 * 1024 * 1024


def chunk_size_fitting(item_sizes: Sequence[int], requested: int, routes: int = 1) -> int:
    """The largest chunk size up to ``requested`` whose items, each as large as the largest
    one and each tried on every one of ``routes`` routes (each route's call is a scheduled event
    carrying the item), fit CHUNK_HISTORY_BYTES: 1,000 items of 20,000 Chinese characters
    (60 MB) passed the history limit and the server terminated the chunk, and so did 270 such
    items whose first three routes of four failed."""
    largest = max(item_sizes, default=0) * max(1, routes)
    if largest <= 0:
        return requested
    return max(1, min(requested, CHUNK_HISTORY_BYTES // largest))
