"""Argument types the command line shares: a clear message for a value that does not parse."""

import argparse
import re
from datetime import UTC, datetime, timedelta

from policy.transitions import TicketState


def state_argument(text: str) -> TicketState:
    try:
        return TicketState(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown state {text!r}; one of {', '.join(TicketState)}"
        ) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


# The longest wait a command takes: a week, in seconds.
MAX_WAIT_SECONDS = 7 * 24 * 3600


def wait_seconds(text: str) -> float:
    """A --timeout: a finite number of seconds from 0 (do not wait: say where things stand) to a
    week."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= MAX_WAIT_SECONDS:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {MAX_WAIT_SECONDS:,} seconds, got {text}"
        )
    return value


_AGO = re.compile(r"(\d{1,6})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since_argument(text: str, now: datetime | None = None) -> datetime:
    """A point in time: an ISO 8601 date or date and time (no zone: UTC), or a span back from
    now: 90m, 24h, 7d."""
    text = text.strip()
    if match := _AGO.fullmatch(text):
        amount, unit = int(match[1]), _UNITS[match[2]]
        try:
            return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
        except OverflowError:
            raise argparse.ArgumentTypeError(f"{text!r} reaches back before year 1") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is neither a time (2026-12-01, 2026-12-01T09:30Z) nor a span back "
            "from now (90m, 24h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
