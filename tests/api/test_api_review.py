"""The HTTP API's review routes over real HTTP, on the dev server with the real offline worker:
the review queue and report, and the refusals of a review that cannot apply (stale, not waiting,
unknown, naming its own reviewer, missing its fields)."""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.helpers import unique_id, urgent_ticket, wait_for_state
from tests.support.api_server import Tokens, bearer
from tests.support.temporal import wait_until

pytestmark = pytest.mark.api


async def test_the_review_queue_lists_waiting_tickets_oldest_deadline_first_and_the_report_counts(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id()
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")

    async def listed() -> dict[str, Any] | None:
        # The queue reads the visibility store, which follows the ticket's own state a moment
        # later (the test failed once, the ticket not yet listed).
        found = (await http.get("/review-queue", headers=bearer(tokens.review))).json()
        return found if ticket_id in [t["ticket_id"] for t in found["tickets"]] else None

    queue = await wait_until(listed)
    report = (await http.get("/report", headers=bearer(tokens.read))).json()

    deadlines = [t["sla_deadline"] for t in queue["tickets"]]
    assert ticket_id in [t["ticket_id"] for t in queue["tickets"]]
    assert deadlines == sorted(deadlines)
    assert queue["escalated"] == sum(t["escalated"] for t in queue["tickets"])
    assert queue["truncated"] is False
    assert report["by_state"]["AWAITING_REVIEW"] >= 1
    assert report["total"] >= len(queue["tickets"])


async def test_the_review_queue_says_why_each_ticket_waits_and_filters_by_it(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id()
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    review = bearer(tokens.review)

    async def listed() -> list[dict[str, Any]] | None:
        found = (await http.get("/review-queue", headers=review)).json()["tickets"]
        return found if ticket_id in [t["ticket_id"] for t in found] else None

    everything = await wait_until(listed)
    urgent = (await http.get("/review-queue?why=urgent", headers=review)).json()["tickets"]
    budget = (await http.get("/review-queue?why=budget", headers=review)).json()["tickets"]
    unknown = await http.get("/review-queue?why=bored", headers=review)

    [mine] = [t for t in everything if t["ticket_id"] == ticket_id]
    assert mine["review_reasons"] == ["urgent"]
    assert ticket_id in [t["ticket_id"] for t in urgent]
    assert all("urgent" in t["review_reasons"] for t in urgent)
    assert ticket_id not in [t["ticket_id"] for t in budget]
    assert unknown.status_code == 422 and "why" in unknown.text


async def test_reviews_are_refused_with_409_when_stale_or_not_waiting_and_404_when_unknown(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id()
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    waiting = await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    revision = waiting["status"]["draft"]["revision"]
    url = f"/tickets/{ticket_id}/review"

    stale = await http.post(
        url, headers=bearer(tokens.review), json={"action": "approve", "revision": revision + 1}
    )
    # Made on a page that showed no draft: never applied to one its reviewer did not see.
    unseen = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "reject", "revision": None, "reason": "no answer yet"},
    )
    # Made in an earlier wait for review (before a rework that came back): refused.
    began = datetime.fromisoformat(waiting["status"]["waiting_since"])
    earlier = (began - timedelta(seconds=1)).isoformat()
    other_wait = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "approve", "revision": revision, "waiting_since": earlier},
    )
    approved = await http.post(
        url,
        headers=bearer(tokens.review),
        json={
            "action": "approve",
            "revision": revision,
            "waiting_since": waiting["status"]["waiting_since"],
        },
    )
    done = await wait_for_state(http, tokens.review, ticket_id, "COMPLETED")
    late = await http.post(
        url,
        headers=bearer(tokens.second_reviewer),
        json={"action": "reject", "revision": revision, "reason": "too late"},
    )
    unknown = await http.post(
        f"/tickets/{unique_id('NOPE')}/review",
        headers=bearer(tokens.review),
        json={"action": "approve", "revision": 1},
    )

    assert stale.status_code == 409
    assert f"is at revision {revision}; look at the current draft" in stale.json()["message"]
    assert unseen.status_code == 409
    assert f"now has draft revision {revision}; look at it" in unseen.json()["message"]
    assert other_wait.status_code == 409
    # (No rework came back here: the time is simply not this wait's.)
    assert "wait for this review began at" in other_wait.json()["message"]
    assert done["status"]["waiting_since"] is None  # no longer waiting
    assert approved.status_code == 200, approved.text
    assert approved.json()["action"] == "approve" and approved.json()["revision"] == revision
    # The reviewer is the token's holder: nobody named themselves in the body.
    assert [r["decision"]["reviewer"] for r in done["status"]["reviews"]] == ["ana"]
    assert done["status"]["transitions"][-1]["agent"] == "reviewer:ana"
    assert late.status_code == 409
    assert f"ticket {ticket_id} is COMPLETED, not awaiting review" in late.json()["message"]
    assert unknown.status_code == 404 and "no ticket" in unknown.json()["message"]


async def test_a_review_that_names_its_own_reviewer_or_misses_its_fields_is_refused(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    url = f"/tickets/{unique_id()}/review"
    named = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "approve", "revision": 1, "reviewer": "mallory"},
    )
    no_notes = await http.post(
        url, headers=bearer(tokens.review), json={"action": "rework", "revision": 1}
    )
    no_revision = await http.post(url, headers=bearer(tokens.review), json={"action": "approve"})
    approve_with_text = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "approve", "revision": 1, "edited_text": "my corrected reply"},
    )
    # A 4,000-digit revision validated and went on to the worker.
    huge = await http.post(
        url, headers=bearer(tokens.review), json={"action": "approve", "revision": 10**3999}
    )

    assert huge.status_code == 422 and "field 'revision'" in huge.text
    assert named.status_code == 422 and "field 'reviewer'" in named.json()["problems"][0]
    assert no_notes.status_code == 422 and "a rework needs notes" in no_notes.json()["message"]
    assert no_revision.status_code == 422 and "field 'revision'" in no_revision.text
    assert approve_with_text.status_code == 422
    assert "edited_text is only read by action 'edit'" in approve_with_text.json()["message"]
    # The concurrency guard takes a number: true was read as revision 1 and approved it.
    for loose in (True, "1", 1.0):
        guessed = await http.post(
            url, headers=bearer(tokens.review), json={"action": "approve", "revision": loose}
        )
        assert guessed.status_code == 422, loose
        assert "field 'revision'" in guessed.json()["message"], guessed.text
    # A reason with an approval was recorded while nothing read it.
    approve_with_reason = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "approve", "revision": 1, "reason": "looks fine but ..."},
    )
    assert approve_with_reason.status_code == 422
    assert (
        "reason is only read by action 'reject' (this is 'approve')"
        in (approve_with_reason.json()["message"])
    )


async def test_a_chain_that_is_no_run_id_or_a_text_over_its_limit_is_named(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    url = f"/tickets/{unique_id()}/review"
    junk_chain = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "approve", "revision": 1, "chain": "nope"},
    )
    long_reason = await http.post(
        url,
        headers=bearer(tokens.review),
        json={"action": "reject", "revision": 1, "reason": "x" * 1_200},
    )

    # It was refused with 409 as "a review for an earlier ticket under the id", which is not so.
    assert junk_chain.status_code == 422, junk_chain.text
    assert "'nope' is not a ticket's chain" in junk_chain.json()["message"]
    # Worded as intake words it, with the length sent (pydantic said "String should have ...").
    assert long_reason.status_code == 422, long_reason.text
    assert long_reason.json()["problems"] == [
        "field 'reason' is 1,200 characters; the limit is 1,000"
    ]
