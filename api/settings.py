"""The API server's settings, from TICKETS_API_* environment variables (docs/api.md)."""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shared.config_errors import ConfigError
from shared.time_display import TEAM_TIMEZONE_ENV, zone_from_env

CONSOLE_TIMEZONE_ENV = "TICKETS_API_CONSOLE_TIMEZONE"
DEFAULT_HOST = "127.0.0.1"
# Not 8000/8080 (taken by many development servers) nor Temporal's 7233/8233.
DEFAULT_PORT = 8480
# Intake per token: a helpdesk's burst of tickets passes, a runaway loop is stopped.
DEFAULT_INTAKE_PER_MINUTE = 60.0
DEFAULT_INTAKE_BURST = 20
# GET /report per token: it reads up to 20,000 tickets' records from Temporal's visibility store
# (docs/api.md). A dashboard refreshing every 5 s (or less often) passes; a loop is stopped
# before it loads the store the workers need.
DEFAULT_REPORT_PER_MINUTE = 12.0
DEFAULT_REPORT_BURST = 4
# The other reads per token (a ticket, a page of tickets, the review queue; the console's pages
# too): each is a query to a worker or a visibility read of up to 1,000 records. A console, a
# dashboard or a script walking pages passes; one token looping on them is stopped before it
# loads Temporal and the workers.
DEFAULT_READ_PER_MINUTE = 600.0
DEFAULT_READ_BURST = 120
# The largest request body read at all. Enough for 10 tickets at the 20,000-character body limit
# with room for JSON escaping; a bigger batch is split by the sender (or uses `starter batch`).
DEFAULT_MAX_BODY_BYTES = 1_048_576
# Tickets in one POST /tickets: each starts a workflow, so a request's time stays bounded.
DEFAULT_MAX_TICKETS_PER_REQUEST = 100


class ApiSettingsError(Exception):
    pass


@dataclass(frozen=True)
class ApiSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tokens_file: Path | None = None
    intake_per_minute: float = DEFAULT_INTAKE_PER_MINUTE
    intake_burst: int = DEFAULT_INTAKE_BURST
    report_per_minute: float = DEFAULT_REPORT_PER_MINUTE
    report_burst: int = DEFAULT_REPORT_BURST
    read_per_minute: float = DEFAULT_READ_PER_MINUTE
    read_burst: int = DEFAULT_READ_BURST
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_tickets_per_request: int = DEFAULT_MAX_TICKETS_PER_REQUEST
    # The console's cookies carry the Secure flag (browsers keep them on https and on localhost).
    # Turn off only behind a proxy that is itself plain HTTP, which you should not run.
    secure_cookies: bool = True
    # FastAPI's documentation pages (/docs, /redoc) load their scripts from a CDN (a floating
    # version, no integrity hash) on the console's origin, where such a script could read the
    # console's pages (customer text) and post reviews: off unless TICKETS_API_DOCS=on. The
    # OpenAPI document at /openapi.json is always served.
    docs: bool = False
    # The zone the console shows times in (an IANA name: the team's, say the business hours'
    # zone); the JSON API answers in UTC whatever this says.
    console_timezone: str = "UTC"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ApiSettings":
        env = os.environ if env is None else env
        tokens = env.get("TICKETS_API_TOKENS_FILE")
        return cls(
            host=env.get("TICKETS_API_HOST") or DEFAULT_HOST,
            port=_number(env, "TICKETS_API_PORT", DEFAULT_PORT, int, 1, 65_535),
            tokens_file=Path(tokens) if tokens else None,
            # Upper bounds past any helpdesk, so a typo is named, not taken (1e12 requests a
            # minute is no limit; a 1 GB body would be read whole before it is parsed).
            intake_per_minute=_number(
                env,
                "TICKETS_API_INTAKE_PER_MINUTE",
                DEFAULT_INTAKE_PER_MINUTE,
                float,
                0.01,
                1_000_000.0,
            ),
            intake_burst=_number(
                env, "TICKETS_API_INTAKE_BURST", DEFAULT_INTAKE_BURST, int, 1, 1_000_000
            ),
            report_per_minute=_number(
                env,
                "TICKETS_API_REPORT_PER_MINUTE",
                DEFAULT_REPORT_PER_MINUTE,
                float,
                0.01,
                1_000_000.0,
            ),
            report_burst=_number(
                env, "TICKETS_API_REPORT_BURST", DEFAULT_REPORT_BURST, int, 1, 1_000_000
            ),
            read_per_minute=_number(
                env,
                "TICKETS_API_READ_PER_MINUTE",
                DEFAULT_READ_PER_MINUTE,
                float,
                0.01,
                1_000_000.0,
            ),
            read_burst=_number(
                env, "TICKETS_API_READ_BURST", DEFAULT_READ_BURST, int, 1, 1_000_000
            ),
            max_body_bytes=_number(
                env, "TICKETS_API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int, 1_024, 64 << 20
            ),
            max_tickets_per_request=_number(
                env, "TICKETS_API_MAX_TICKETS", DEFAULT_MAX_TICKETS_PER_REQUEST, int, 1, 1_000
            ),
            secure_cookies=env.get("TICKETS_API_INSECURE_COOKIES", "").lower()
            not in {"1", "true", "yes", "on"},
            docs=env.get("TICKETS_API_DOCS", "").strip().lower() in {"1", "true", "yes", "on"},
            # The console's own zone, else the team's (the CLI's too), else UTC.
            console_timezone=_zone(
                env,
                CONSOLE_TIMEZONE_ENV
                if (env.get(CONSOLE_TIMEZONE_ENV) or "").strip()
                else TEAM_TIMEZONE_ENV,
            ),
        )


def _zone(env: Mapping[str, str], name: str) -> str:
    try:
        return zone_from_env(env, name)
    except ConfigError as err:
        raise ApiSettingsError(str(err)) from None


N = TypeVar("N", int, float)


def _number(
    env: Mapping[str, str],
    name: str,
    default: N,
    kind: type[N],
    low: N,
    high: N | None = None,
) -> N:
    text = env.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ApiSettingsError(f"{name} must be a {kind.__name__} (got {text!r})") from None
    if not math.isfinite(value):  # nan passes every comparison: the intake limit was off
        raise ApiSettingsError(f"{name} must be a finite number (got {text!r})")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiSettingsError(f"{name} must be {bounds} (got {text})")
    return value
