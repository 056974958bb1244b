"""Time windows on the command line: ``--since 7d``, ``--grace 1h``."""

import argparse
import re
from datetime import timedelta
from typing import Final

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
# Ten years: a window longer than any retention; more is a typo.
MAX_DURATION: Final = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (a number and one unit)."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: a number and a unit, like 30m, 24h, 7d or 2w"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    # Compared as a number first: a timedelta of 10^20 days is an OverflowError (a traceback).
    if seconds > MAX_DURATION.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} is longer than ten years")
    return timedelta(seconds=seconds)


def describe_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "m"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
