"""The command-line client's times in the team's zone: ``TICKETS_TIMEZONE`` (an IANA name, e.g.
``Europe/Berlin``) shows deadlines, transitions, reviews and deliveries as ``2026-01-15 16:00 CET
(15:00 UTC)`` in the tables and lines a person reads; ``--json`` stays in UTC (ISO 8601), as the
HTTP API does, and so does text that goes into it too (``redrive``'s reasons), and the ISO
times a command takes back (``--waiting-since``: shown, with the zone's reading beside). Unset:
UTC, as before. shared/time_display.py."""

import os
from datetime import datetime
from functools import lru_cache

from shared.time_display import TEAM_TIMEZONE_ENV, as_utc, moment, zone_from_env


def team_zone() -> str:
    """The zone TICKETS_TIMEZONE names ("UTC" unset); ConfigError naming it for an unknown one.
    Read at each call (a test, or a process that changes it, sees the change); each name is
    checked once. The CLI checks it before a command runs (starter/cli.py)."""
    return _checked(os.environ.get(TEAM_TIMEZONE_ENV, ""))


@lru_cache(maxsize=8)
def _checked(text: str) -> str:
    return zone_from_env({TEAM_TIMEZONE_ENV: text}, TEAM_TIMEZONE_ENV)


def zoned() -> bool:
    """Whether a zone other than UTC is set (the outputs that add it beside UTC ask)."""
    return team_zone() != "UTC"


def at(value: datetime | None, *, seconds: bool = False) -> str:
    """``value`` in the team's zone, with UTC beside it; "-" for none."""
    return moment(value, team_zone(), seconds=seconds)


def clock(value: datetime) -> str:
    """A transition's time for the status table's column headed ``clock_label()``: the time of
    day in UTC, as before; in a zone, the whole time with UTC beside it (its date may differ)."""
    if not zoned():
        return f"{as_utc(value):%H:%M:%S}"
    return at(value, seconds=True)


def clock_label() -> str:
    return "At (UTC)" if not zoned() else "At"
