"""The command-line client's times in the team's zone: ``TICKETS_TIMEZONE`` (an IANA name, e.g.
``Europe/Berlin``) shows deadlines, transitions, reviews and deliveries as ``2026-01-15 16:00 CET
(15:00 UTC)`` in every table and line a person reads; ``--json`` stays in UTC (ISO 8601), as the
HTTP API does. Unset: UTC, as before. shared/time_display.py."""

import os
from datetime import datetime
from functools import lru_cache

from shared.time_display import TEAM_TIMEZONE_ENV, as_utc, moment, zone_from_env, zone_info


@lru_cache(maxsize=1)
def team_zone() -> str:
    """The zone TICKETS_TIMEZONE names ("UTC" unset); ConfigError naming it for an unknown one.
    Read once per process: the CLI checks it before a command runs (starter/cli.py)."""
    return zone_from_env(os.environ, TEAM_TIMEZONE_ENV)


def at(value: datetime | None, *, seconds: bool = False) -> str:
    """``value`` in the team's zone, with UTC beside it; "-" for none."""
    return moment(value, team_zone(), seconds=seconds)


def clock(value: datetime) -> str:
    """The time of day alone, in the team's zone (a table column headed by ``clock_label``)."""
    return f"{as_utc(value).astimezone(zone_info(team_zone())):%H:%M:%S}"


def clock_label() -> str:
    return team_zone()
