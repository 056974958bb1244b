"""GET /report over a window (``since``) and with more tickets than it reads: on the real dev
server, through the API and through ``listing.report_tickets`` with a small limit."""

from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client

from shared import ticket_listing as listing
from tests.api.helpers import routine_ticket, unique_id, wait_for_state
from tests.support.api_server import Tokens, bearer
from tests.support.temporal import wait_until


async def test_the_report_covers_tickets_started_since_and_counts_those_it_left_out(
    http: httpx.AsyncClient, tokens: Tokens, api_temporal: Client
) -> None:
    # A second of slack for the clock the server stamps start times with (the same machine).
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = [unique_id("WINDOW"), unique_id("WINDOW")]
    for ticket_id in ids:
        await http.post("/tickets", headers=bearer(tokens.submit), json=routine_ticket(ticket_id))
    for ticket_id in ids:
        await wait_for_state(http, tokens.review, ticket_id, "COMPLETED")

    async def window_report() -> dict[str, object] | None:
        # Naive: read as UTC.
        since = before.replace(tzinfo=None).isoformat()
        answer = await http.get("/report", headers=bearer(tokens.review), params={"since": since})
        assert answer.status_code == 200, answer.text
        report: dict[str, object] = answer.json()
        return report if report["total"] >= 2 else None  # type: ignore[operator]

    window = await wait_until(window_report, timeout=30, interval=0.2, what="the window's report")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    nothing = await http.get("/report", headers=bearer(tokens.review), params={"since": future})
    whole = await http.get("/report", headers=bearer(tokens.review))
    bad = await http.get("/report", headers=bearer(tokens.review), params={"since": "yesterday"})
    # A span back from now, as the CLI's `report --since 1h` takes it (it was a 422).
    last_hour = await http.get("/report", headers=bearer(tokens.review), params={"since": "1h"})

    assert nothing.status_code == 200, nothing.text
    assert (nothing.json()["total"], nothing.json()["left_out"]) == (0, 0)
    assert whole.json()["since"] is None and window["since"] is not None
    assert whole.json()["total"] >= window["total"]  # type: ignore[operator]
    assert bad.status_code == 422
    assert bad.json()["message"] == (
        "since: 'yesterday' is neither a time (2026-12-01, 2026-12-01T09:30Z) nor a span back "
        "from now (90m, 24h, 7d)"
    )
    assert last_hour.status_code == 200, last_hour.text
    assert last_hour.json()["total"] >= window["total"]  # type: ignore[operator]
    assert datetime.fromisoformat(last_hour.json()["since"]) < before

    # The window may also hold a ticket the test before started within the second of slack.
    read = await listing.report_tickets(api_temporal, before, limit=1)
    assert len(read.tickets) == 1
    assert read.left_out == window["total"] - 1  # type: ignore[operator]
