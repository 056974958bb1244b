"""A report's window, as the CLI (`report --since`) and the API (`GET /report?since=`) take it:
a point in time, or a span back from now."""

import re
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"(\d{1,6})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since_moment(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 date or date and time (no zone: UTC), or a span back from now: 90m, 24h, 7d.
    ValueError with a sentence naming what is wrong otherwise."""
    text = text.strip()
    if match := _AGO.fullmatch(text):
        amount, unit = int(match[1]), _UNITS[match[2]]
        try:
            return (now or datetime.now(UTC)) - timedelta(**{unit: amount})
        except OverflowError:
            raise ValueError(f"{text!r} reaches back before year 1") from None
    if re.fullmatch(r"\d+[mhd]", text):
        raise ValueError(f"{text[:40]!r} is a span of more than 6 digits: give at most 999999")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # A "+" in a URL's query is a space: 09:30+02:00 arrives as "09:30 02:00".
        plus = " (in a URL, write + as %2B)" if re.search(r"\d \d\d:?\d\d$", text) else ""
        raise ValueError(
            f"{text[:40]!r} is neither a time (2026-12-01, 2026-12-01T09:30Z) nor a span back "
            f"from now (90m, 24h, 7d){plus}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
