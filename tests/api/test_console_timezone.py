"""The console shows times in the team's zone (TICKETS_API_CONSOLE_TIMEZONE), with UTC beside
them; the JSON API answers in UTC whatever it says. The routes and pages are the real ones;
fakes stand in for Temporal where the page reads the ticket (named as fakes)."""

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.console import display, pages, session
from api.settings import ApiSettings, ApiSettingsError
from api.temporal import TemporalConnection
from shared.ticket_status import TicketReading
from shared.tickets import Ticket
from tests.support.api_server import Tokens
from tests.unit.test_review_current_wait import waiting

WINTER = datetime(2026, 1, 15, 15, 0, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)


def test_a_moment_is_said_in_the_zone_with_utc_beside_it() -> None:
    assert display.moment(WINTER) == "2026-01-15 15:00 UTC"
    assert display.moment(WINTER, "Europe/Berlin") == "2026-01-15 16:00 CET (15:00 UTC)"
    assert display.moment(SUMMER, "Europe/Berlin") == "2026-07-15 17:00 CEST (15:00 UTC)"
    # West of UTC the day can be the one before.
    late = datetime(2026, 1, 16, 2, 30, tzinfo=UTC)
    assert display.moment(late, "America/New_York") == (
        "2026-01-15 21:30 EST (2026-01-16 02:30 UTC)"
    )
    assert display.moment(None, "Europe/Berlin") == "-"
    # The UTC side says its own date when it is another day.
    assert (
        display.moment(WINTER, "Pacific/Auckland") == "2026-01-16 04:00 NZDT (2026-01-15 15:00 UTC)"
    )
    # A zone that is UTC under another name adds no second clock; a time without a zone is UTC.
    assert display.moment(WINTER, "Etc/UTC") == "2026-01-15 15:00 UTC"
    naive = datetime(2026, 1, 15, 15, 0)
    assert display.moment(naive, "Europe/Berlin") == "2026-01-15 16:00 CET (15:00 UTC)"


def test_the_setting_takes_an_iana_zone_and_names_itself_when_it_is_not_one() -> None:
    assert ApiSettings.from_env({}).console_timezone == "UTC"
    assert ApiSettings.from_env({"TICKETS_API_CONSOLE_TIMEZONE": ""}).console_timezone == "UTC"
    given = {"TICKETS_API_CONSOLE_TIMEZONE": " Asia/Tokyo "}
    assert ApiSettings.from_env(given).console_timezone == "Asia/Tokyo"
    with pytest.raises(ApiSettingsError) as refused:
        ApiSettings.from_env({"TICKETS_API_CONSOLE_TIMEZONE": "Europe/Berlni"})
    assert str(refused.value).startswith(
        "TICKETS_API_CONSOLE_TIMEZONE: unknown time zone 'Europe/Berlni'"
    )


def test_the_console_takes_the_team_s_zone_unless_it_has_its_own() -> None:
    team = {"TICKETS_TIMEZONE": "Europe/Lisbon"}
    assert ApiSettings.from_env(team).console_timezone == "Europe/Lisbon"
    own = {**team, "TICKETS_API_CONSOLE_TIMEZONE": "Asia/Tokyo"}
    assert ApiSettings.from_env(own).console_timezone == "Asia/Tokyo"
    with pytest.raises(ApiSettingsError) as refused:
        ApiSettings.from_env({"TICKETS_TIMEZONE": "Europe/Lisbn"})
    assert str(refused.value).startswith("TICKETS_TIMEZONE: unknown time zone 'Europe/Lisbn'")


async def test_the_ticket_page_shows_its_deadline_in_the_team_s_zone(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = waiting(failed_rework=False).model_copy(update={"sla_deadline": WINTER})

    async def fake_read(client: Any, ticket_id: str) -> TicketReading:
        return TicketReading(view=view, workflow_status="RUNNING", run_id="run-1")

    async def fake_message(client: Any, ticket_id: str, run_id: str | None) -> Ticket:
        return Ticket(ticket_id="T-1", subject="Refund", body="Where is my refund?")

    async def fake_client() -> SimpleNamespace:
        return SimpleNamespace(namespace="default")

    monkeypatch.setattr(pages, "read_ticket", fake_read)
    monkeypatch.setattr(pages, "customer_ticket", fake_message)
    shown = {}
    for zone in ("UTC", "America/Los_Angeles"):
        app = create_app(
            ApiSettings(secure_cookies=False, console_timezone=zone),
            tokens.registry(),
            TemporalConnection(factory=fake_client),  # type: ignore[arg-type]
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            cookies={session.SESSION_COOKIE: f"n0nce.{tokens.review}"},
        ) as browser:
            page = await browser.get("/console/tickets/T-1")
        assert page.status_code == 200, page.text
        shown[zone] = page.text
    assert "<dt>SLA deadline</dt><dd>2026-01-15 15:00 UTC" in shown["UTC"]
    assert (
        "<dt>SLA deadline</dt><dd>2026-01-15 07:00 PST (15:00 UTC)" in shown["America/Los_Angeles"]
    )
