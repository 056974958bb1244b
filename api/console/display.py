"""How the console words times and money."""

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from policy.text_budget import usd_text
from shared.time_display import moment

__all__ = ["countdown", "moment", "said_at", "span", "usd"]  # moment: the templates' name for it


def span(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def countdown(deadline: datetime | None, now: datetime) -> str:
    """'in 3h 05m' before the deadline, 'overdue by 20m' after it."""
    if deadline is None:
        return "-"
    left = deadline - now
    return f"in {span(left)}" if left >= timedelta(0) else f"overdue by {span(left)}"


def said_at(zone: str) -> Callable[[datetime], str]:
    """A time as the console says it to the second, in its zone: a waiting call's next attempt
    (shared/pending_calls.describe_call)."""
    return partial(moment, zone=zone, seconds=True)


def usd(value: float) -> str:
    return f"${usd_text(value)}"
