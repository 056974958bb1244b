"""Which labelled tickets the offline rules may be read against, and which only measure them.

A ticket's part follows from its own text, never from its position, its label or a random draw:
the SHA-256 of the row's text fields (UTF-8, exactly as in the file, joined by one newline) is
read as a big-endian integer from its first 8 bytes; bucket = that integer mod 100. Buckets
below ``HELD_OUT_PERCENT`` are held out, the rest are development. The same text always lands
in the same part, whatever file it appears in and whatever order the file is in.

Development tickets may be read to learn what real tickets look like. Held-out tickets are only
ever scored: no rule, cue, keyword or threshold is chosen by looking at them.
"""

import hashlib
from enum import StrEnum
from typing import Final

HELD_OUT_PERCENT: Final = 30


class Part(StrEnum):
    DEVELOPMENT = "development"
    HELD_OUT = "held-out"


def bucket_of(*fields: str) -> int:
    digest = hashlib.sha256("\n".join(fields).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def part_of(*fields: str) -> Part:
    """The part of the split a row with these text fields belongs to."""
    return Part.HELD_OUT if bucket_of(*fields) < HELD_OUT_PERCENT else Part.DEVELOPMENT
