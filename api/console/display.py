"""How the console words times and money."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from policy.text_budget import usd_text


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


def moment(value: datetime | None, zone: str = "UTC") -> str:
    """A time as the team reads it: in the console's zone (TICKETS_API_CONSOLE_TIMEZONE) with
    its abbreviation, and in UTC beside it, which the API, the CLI and the logs use."""
    if value is None:
        return "-"
    # A time without a zone is UTC here, as everywhere in the product (not the host's zone).
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    local = at.astimezone(_zone(zone))
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", "GMT"):
        return f"{at:%Y-%m-%d %H:%M} UTC"  # Etc/UTC, GMT: no second clock to add
    utc = f"{at:%H:%M}" if local.date() == at.date() else f"{at:%Y-%m-%d %H:%M}"
    return f"{local:%Y-%m-%d %H:%M} {local:%Z} ({utc} UTC)"


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def usd(value: float) -> str:
    return f"${usd_text(value)}"
