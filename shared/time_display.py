"""Times as a support team reads them: in the team's zone, with UTC beside it.

The API's JSON, the logs and Temporal say UTC; a person in Berlin reading "16:00 UTC" subtracts
an hour in their head, and once a year two. The console (TICKETS_API_CONSOLE_TIMEZONE) and the
command-line client (TICKETS_TIMEZONE) show ``2026-01-15 16:00 CET (15:00 UTC)`` instead, the
UTC date too when it is another day; with no zone set, or a zone that is UTC, the same time as
``2026-01-15 15:00 UTC``, as before.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from shared.business_hours_zone import zone_problem
from shared.config_errors import ConfigError

# The team's zone: the command-line client's times, and the console's unless
# TICKETS_API_CONSOLE_TIMEZONE names another.
TEAM_TIMEZONE_ENV: Final = "TICKETS_TIMEZONE"


def moment(value: datetime | None, zone: str = "UTC", *, seconds: bool = False) -> str:
    """``value`` in ``zone`` with its abbreviation, and in UTC beside it (a time without a zone
    is UTC, as everywhere in the product, not the host's zone)."""
    if value is None:
        return "-"
    at = as_utc(value)
    local = at.astimezone(zone_info(zone))
    clock = "%H:%M:%S" if seconds else "%H:%M"
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", "GMT"):
        return f"{at:%Y-%m-%d {clock}} UTC"  # Etc/UTC, GMT: no second clock to add
    utc = f"{at:{clock}}" if local.date() == at.date() else f"{at:%Y-%m-%d {clock}}"
    return f"{local:%Y-%m-%d {clock}} {local:%Z} ({utc} UTC)"


def as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@lru_cache(maxsize=8)
def zone_info(name: str) -> tzinfo:
    return UTC if name == "UTC" else ZoneInfo(name)


def zone_from_env(env: Mapping[str, str], name: str) -> str:
    """The IANA zone a variable names ("UTC" when unset or empty); ConfigError, naming the
    variable, for one this machine does not know."""
    text = (env.get(name) or "").strip()
    if not text:
        return "UTC"
    if problem := zone_problem(text[:100]):
        raise ConfigError(f"{name}: {problem}")
    return text
