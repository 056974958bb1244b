"""A review form refused for its own content (too long, the form expired, the server busy) comes
back bound to the ticket as it is now: when that is another draft than the one the reviewer
wrote for (a colleague's rework came back meanwhile), the page says so, or a shortened resend
would be applied to a draft the reviewer never read."""

import html
import re

import httpx
import pytest

from shared.review import MAX_EDITED_CHARS
from tests.api.helpers import page_csrf, unique_id, urgent_ticket, wait_for_state
from tests.support.api_server import Tokens, bearer

pytestmark = pytest.mark.api

CHANGED = "The draft changed while you wrote"


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return html.unescape(found.group(1))


async def test_a_refused_review_says_when_the_ticket_now_shows_another_draft(
    console: httpx.AsyncClient, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id("CHANGED")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    page = (await console.get(f"/console/tickets/{ticket_id}")).text
    form = {
        "action": "edit",
        "csrf": page_csrf(page),
        "revision": hidden(page, "revision"),
        "chain": hidden(page, "chain"),
        "waiting_since": hidden(page, "waiting_since"),
        "edited_text": "x" * (MAX_EDITED_CHARS + 1),
    }
    address = f"/console/tickets/{ticket_id}/review"

    same = await console.post(address, data=form)
    # Written for a draft the ticket no longer shows (as after another reviewer's rework).
    other = await console.post(address, data=form | {"revision": "99"})

    assert same.status_code == other.status_code == 422
    assert "edited_text" in same.text and CHANGED not in same.text
    assert CHANGED in other.text, other.text[:2_000]
    assert f"your review was of revision 99, the ticket now shows revision {form['revision']}" in (
        other.text
    )

    # The same revision, another wait (a rework that failed and came back, the ticket submitted
    # again): said as what happened. Both read "the draft changed ... was of revision 1, the
    # ticket now shows revision 1".
    rewaited = await console.post(
        address, data=form | {"waiting_since": "2020-01-01T00:00:00+00:00"}
    )
    rerun = await console.post(address, data=form | {"chain": "another-chain"})
    assert rewaited.status_code == rerun.status_code == 422
    for answer in (rewaited, rerun):
        assert CHANGED not in answer.text and "Read it before you send your review again" in (
            answer.text
        )
    assert "went back for rework and waits for review again" in html.unescape(rewaited.text)
    assert "submitted again under its id while you wrote" in html.unescape(rerun.text)
