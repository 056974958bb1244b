"""A reviewer working through the queue filtered by one reason (``?why=urgent``) stays in that
filter: the ticket's link, its page's way back, and the redirect after a decision keep it. They
all led to the whole queue, to be filtered again after every ticket."""

import re

import httpx
import pytest

from tests.api.helpers import page_csrf, unique_id, urgent_ticket, wait_for_state
from tests.support.api_server import Tokens, bearer
from tests.support.temporal import wait_until

pytestmark = pytest.mark.api


async def test_the_queues_reason_filter_is_kept_through_a_ticket_and_its_decision(
    console: httpx.AsyncClient, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id("FILTER")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")

    link = f'href="/console/tickets/{ticket_id}?why=urgent"'

    async def listed() -> str | None:
        # The queue reads the visibility listing, a moment behind the ticket's own state.
        text = (await console.get("/console/queue?why=urgent")).text
        return text if link in text else None

    queue = await wait_until(listed, what="the ticket in the filtered queue")
    page = (await console.get(f"/console/tickets/{ticket_id}?why=urgent")).text
    unfiltered = (await console.get(f"/console/tickets/{ticket_id}?why=no-such-code")).text
    form = page[page.index('id="reject-form"') :]
    fields = dict(re.findall(r'name="(revision|chain)" value="([^"]*)"', form)[:2])
    decided = await console.post(
        f"/console/tickets/{ticket_id}/review",
        data={"action": "reject", "reason": "test over", "csrf": page_csrf(page), "why": "urgent"}
        | fields,
    )

    assert link in queue
    assert 'href="/console/queue?why=urgent"' in page
    assert page.count('<input type="hidden" name="why" value="urgent">') == 4  # every form
    assert 'href="/console/queue"' in unfiltered and 'name="why"' not in unfiltered
    assert decided.status_code == 303, decided.text[:300]
    assert decided.headers["location"] == (
        f"/console/queue?done=reject&ticket={ticket_id}&why=urgent"
    )
