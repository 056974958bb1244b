"""An API review without `waiting_since` is taken as made in the wait the ticket is in now, as the
CLI's is (shared/review_operations.py in_the_current_wait). Sent as it came, the ticket skipped
its check: an approval of revision 1 read before another reviewer sent that draft back, whose
rework failed and brought the same revision back, approved the draft that was sent back.

The route and ``submit_review`` are the real ones; fakes stand in for Temporal at the calls that
read the ticket and send the update (named as fakes)."""

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared import review_operations
from shared.review import ReviewDecision, ReviewReceipt
from shared.ticket_summary import TicketSummary
from shared.view import TicketView
from tests.support.api_server import Tokens, bearer
from tests.unit.test_review_current_wait import AGAIN, FIRST, waiting


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[ReviewDecision]:
    """The decisions the fake update carried; the ticket waits as ``view`` says."""
    decisions: list[ReviewDecision] = []

    async def fake_describe(client: Any, ticket_id: str) -> TicketSummary:
        return TicketSummary(
            ticket_id=ticket_id, workflow_status="RUNNING", state="AWAITING_REVIEW"
        )

    async def fake_polling(client: Any) -> bool:
        return True

    async def fake_update(
        handle: Any, ticket_id: str, decision: ReviewDecision, view: Any, update_id: Any
    ) -> ReviewReceipt:
        decisions.append(decision)
        return ReviewReceipt(
            ticket_id=ticket_id, action=decision.action, revision=1, accepted_at=AGAIN
        )

    monkeypatch.setattr(review_operations, "describe_ticket", fake_describe)
    monkeypatch.setattr(review_operations, "workers_polling", fake_polling)
    monkeypatch.setattr(review_operations, "_review_linked", fake_update)
    monkeypatch.setattr(review_operations, "_review_secret", lambda client: None)
    return decisions


async def review(
    tokens: Tokens, view: TicketView, monkeypatch: pytest.MonkeyPatch, **body: Any
) -> httpx.Response:
    async def fake_view(client: Any, ticket_id: str, *, running: bool) -> TicketView:
        return view

    monkeypatch.setattr(review_operations, "_view_of", fake_view)

    async def fake_client() -> SimpleNamespace:
        return SimpleNamespace(get_workflow_handle=lambda *a, **k: None, namespace="default")

    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection(factory=fake_client))  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        return await http.post("/tickets/T-1/review", headers=bearer(tokens.review), json=body)


async def test_a_revision_a_failed_rework_brought_back_needs_its_wait_named(
    tokens: Tokens, sent: list[ReviewDecision], monkeypatch: pytest.MonkeyPatch
) -> None:
    again = waiting(failed_rework=True)
    refused = await review(tokens, again, monkeypatch, action="approve", revision=1)

    assert refused.status_code == 409, refused.text
    message = refused.json()["message"]
    assert "sent back for rework, which failed" in message
    assert f"add waiting_since {AGAIN.isoformat()}" in message
    assert sent == []

    named = await review(
        tokens, again, monkeypatch, action="approve", revision=1, waiting_since=AGAIN.isoformat()
    )
    assert named.status_code == 200, named.text
    assert [d.waiting_since for d in sent] == [AGAIN]


async def test_a_review_naming_no_wait_is_made_in_the_current_one(
    tokens: Tokens, sent: list[ReviewDecision], monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = await review(
        tokens, waiting(failed_rework=False), monkeypatch, action="approve", revision=1
    )

    assert answer.status_code == 200, answer.text
    # The ticket refuses it if it waits again (a rework came back) before it arrives.
    assert [d.waiting_since for d in sent] == [FIRST]
