"""A review sent again after its answer was lost (a 504, a dropped connection) is the same
review: one update in the ticket's history, and the first one's receipt once it applied. A
different decision, by the same reviewer or in a later wait for review, is not a retry."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from policy.transitions import TicketState
from shared import names, review_operations
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView, Transition
from tests.api.helpers import stalled_ticket, unique_id, urgent_ticket, wait_for_state
from tests.support.api_server import Tokens, bearer
from tests.support.temporal import wait_until

pytestmark = pytest.mark.api


async def test_an_approval_sent_again_after_it_applied_gets_the_first_receipt(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id("RETRY")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    waiting = await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    url = f"/tickets/{ticket_id}/review"
    approval = {"action": "approve", "revision": waiting["status"]["draft"]["revision"]}

    first = await http.post(url, headers=bearer(tokens.review), json=approval)
    done = await wait_for_state(http, tokens.review, ticket_id, "COMPLETED")
    again = await http.post(url, headers=bearer(tokens.review), json=approval)
    other_decision = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "reject", "revision": approval["revision"], "reason": "spam"},
    )
    other_reviewer = await http.post(url, headers=bearer(tokens.second_reviewer), json=approval)

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert first.json()["repeated"] is False
    # The first one's receipt (the same accepted_at), marked as one applied before.
    assert again.json() == {**first.json(), "repeated": True}
    assert len(done["status"]["reviews"]) == 1
    for refused in (other_decision, other_reviewer):
        assert refused.status_code == 409, refused.text
        assert f"ticket {ticket_id} is COMPLETED, not awaiting review" in refused.json()["message"]


async def test_a_review_sent_again_after_a_504_is_one_update_in_the_history(
    http: httpx.AsyncClient, tokens: Tokens, api_temporal: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker takes the review and never answers: each attempt ends in 504.
    monkeypatch.setattr(review_operations, "REVIEW_TIMEOUT", 1.0)
    review = {"action": "edit", "revision": 1, "edited_text": "Refunded."}
    async with stalled_ticket(api_temporal) as ticket_id:

        async def readable() -> bool:
            read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
            return read.status_code == 200

        await wait_until(readable, timeout=30, what=f"{ticket_id} readable")
        url = f"/tickets/{ticket_id}/review"
        answers = [await http.post(url, headers=bearer(tokens.review), json=review)]
        answers.append(await http.post(url, headers=bearer(tokens.review), json=review))
        # Another reviewer's review is another update (refused by nobody here: it waits).
        answers.append(await http.post(url, headers=bearer(tokens.second_reviewer), json=review))
        handle = api_temporal.get_workflow_handle(names.ticket_workflow_id(ticket_id))

        async def accepted() -> list[object]:
            return [
                e
                for e in (await handle.fetch_history()).events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
            ]

        # bob's may be accepted after his 504 (a 1 s wait on a busy machine): wait for two.
        await wait_until(lambda: _at_least(accepted, 2), timeout=30, what="two updates accepted")
        # ana's sent again is still one of them, and nothing else came.
        after = await accepted()

    assert [a.status_code for a in answers] == [504, 504, 504], [a.text for a in answers]
    assert "may still be applied" in answers[0].json()["message"]
    assert len(after) == 2  # ana's twice as one, and bob's


async def _at_least(read, count):  # type: ignore[no-untyped-def]
    return len(await read()) >= count or None


def _view(*waits: datetime) -> TicketView:
    transitions = [
        Transition(
            from_state=TicketState.VALIDATED,
            to_state=TicketState.AWAITING_REVIEW,
            at=at,
            agent="policy",
            reason="r",
        )
        for at in waits
    ]
    return TicketView(
        ticket_id="T-1",
        subject="s",
        state=TicketState.AWAITING_REVIEW,
        chain="c1",
        transitions=transitions,
    )


def test_the_update_id_is_the_decisions_own_and_changes_with_each_wait_for_review() -> None:
    began = datetime(2026, 12, 1, tzinfo=UTC)
    view = _view(began)
    rework = ReviewDecision(action=ReviewAction.REWORK, reviewer="ana", revision=2, notes="More.")

    def update_id(
        decision: ReviewDecision, seen: TicketView = view, key: bytes | None = None
    ) -> str:
        return review_operations.review_update_id("T-1", decision, seen, key)

    same = update_id(rework)
    assert update_id(rework.model_copy()) == same
    assert update_id(rework, key=b"k" * 32) != same  # under the key ring's derived key
    others = [
        rework.model_copy(update={"notes": "Less."}),
        rework.model_copy(update={"reviewer": "bob"}),
        rework.model_copy(update={"revision": 3}),
        rework.model_copy(update={"chain": "c2"}),
        rework.model_copy(update={"action": ReviewAction.REJECT, "reason": "More."}),
    ]
    assert same not in {update_id(d) for d in others}
    assert len({update_id(d) for d in others}) == len(others)
    # The rework brought the ticket back with no new draft: the same decision in the new wait is
    # a new review, not a retry of the first.
    assert update_id(rework, _view(began, began + timedelta(minutes=5))) != same
    # Nothing of the texts is in the id, which the history keeps in plain text.
    assert same.startswith("review-") and "More" not in same
