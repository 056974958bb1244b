"""The ticket page the console shows again after a review it could not apply (409, 504) says
when the draft changed since the form was written: its forms are for the ticket as it is now,
with the reviewer's text in them. Without the note, a rework that came back meanwhile (revision
3) got the old edit sent against a draft nobody had read, in one click.

The routes and pages are the real ones; fakes stand in for Temporal where the page reads the
ticket and the review is sent (named as fakes)."""

from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.console import pages, session
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from policy.transitions import TicketState
from shared import review_operations
from shared.operation_errors import ReviewMaybeSent, ReviewRefused, ReviewTimeout
from shared.review import ReviewDecision
from shared.ticket_status import TicketReading
from shared.tickets import Ticket
from tests.support.api_server import Tokens
from tests.unit.test_review_current_wait import waiting

NONCE = "n0nce"
OLD_EDIT = "Dear Ana, refunded — UNIQUE-OLD-EDIT"


def revision_three() -> TicketReading:
    view = waiting(failed_rework=False)
    draft = view.draft
    assert draft is not None
    view = view.model_copy(update={"draft": draft.model_copy(update={"revision": 3})})
    return TicketReading(view=view, workflow_status="RUNNING", run_id="run-1")


def completed_at_revision_one() -> TicketReading:
    """A colleague approved revision 1 while this reviewer wrote an edit of it."""
    view = waiting(failed_rework=False).model_copy(update={"state": TicketState.COMPLETED})
    return TicketReading(view=view, workflow_status="COMPLETED", run_id="run-1")


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (ReviewRefused("review refused: ticket T-1 is RESOLVING, not awaiting review"), 409),
        (ReviewTimeout("no worker accepted or refused the review in time"), 504),
    ],
)
async def test_a_refused_reviews_page_says_the_draft_changed_since_the_form(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch, refusal: Exception, status: int
) -> None:
    answer = await _refused_page(tokens, monkeypatch, refusal, revision_three())
    assert answer.status_code == status, answer.text
    assert "UNIQUE-OLD-EDIT" in answer.text  # what was typed is kept
    assert "The draft changed while you wrote" in answer.text
    assert "your review was of revision 1, the ticket now shows revision 3" in answer.text


async def test_a_review_whose_connection_failed_is_said_to_maybe_be_applied_not_unsent(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It said "not sent" (503) where the update may have been admitted before the connection
    # failed (a review, 2026-12-07).
    said = "the connection failed while the review was being sent, so it may have been applied"
    answer = await _refused_page(tokens, monkeypatch, ReviewMaybeSent(said), revision_three())
    assert answer.status_code == 504, answer.text
    assert said in answer.text
    assert "not sent" not in answer.text


async def test_a_review_refused_as_a_colleague_closed_the_ticket_is_not_said_to_face_a_new_draft(
    tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It said "the draft changed: your review was of revision 1, the ticket now shows
    revision 1", and invited a resend to a ticket that takes none."""
    refusal = ReviewRefused("review refused: ticket T-1 is COMPLETED, not awaiting review")
    # The form as the page wrote it while the ticket waited: its chain and wait.
    shown = waiting(failed_rework=False)
    began = shown.review_wait_began()
    assert began is not None
    form = {"chain": shown.chain or "", "waiting_since": began.isoformat()}
    answer = await _refused_page(tokens, monkeypatch, refusal, completed_at_revision_one(), form)
    assert answer.status_code == 409, answer.text
    assert "is COMPLETED, not awaiting review" in answer.text
    assert "The draft changed while you wrote" not in answer.text


async def _refused_page(
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    refusal: Exception,
    reading: TicketReading,
    form: dict[str, str] | None = None,
) -> httpx.Response:
    async def fake_submit(client: Any, ticket_id: str, decision: ReviewDecision) -> None:
        raise refusal

    async def fake_read(client: Any, ticket_id: str) -> TicketReading:
        return reading

    async def fake_message(client: Any, ticket_id: str, run_id: str | None) -> Ticket:
        return Ticket(ticket_id="T-1", subject="Refund", body="Where is my refund?")

    async def fake_client() -> SimpleNamespace:
        return SimpleNamespace(namespace="default")

    monkeypatch.setattr(review_operations, "submit_review", fake_submit)
    monkeypatch.setattr(pages, "read_ticket", fake_read)
    monkeypatch.setattr(pages, "customer_ticket", fake_message)
    app = create_app(
        ApiSettings(secure_cookies=False),
        tokens.registry(),
        TemporalConnection(factory=fake_client),  # type: ignore[arg-type]
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        cookies={session.SESSION_COOKIE: f"{NONCE}.{tokens.review}"},
    ) as browser:
        answer = await browser.post(
            "/console/tickets/T-1/review",
            headers={"Sec-Fetch-Site": "same-origin"},
            data={
                "action": "edit",
                "revision": "1",
                "csrf": session.csrf_token(tokens.review, NONCE),
                "edited_text": OLD_EDIT,
                **(form or {}),
            },
        )
    return answer
