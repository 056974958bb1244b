"""A console review posted to an id that is no ticket's is answered by the console itself: the
page that says so, with what was typed. It went to Temporal as a lookup and an update for the
workflow ``ticket-<whatever was in the address>`` (the API's own route refuses such an id by its
path pattern, the console's did not check it)."""

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from tests.api.helpers import console_sign_in, page_csrf
from tests.support.api_server import Tokens, served
from tests.support.processes import free_port

pytestmark = pytest.mark.api

TYPED = "Dear Ana, UNIQUE-TYPED-REPLY"


async def test_a_review_posted_to_an_id_that_is_no_ticket_s_never_reaches_temporal(
    tokens: Tokens,
) -> None:
    asked: list[str] = []

    async def no_temporal() -> Client:  # a fake: this API has no Temporal to ask
        asked.append("client")
        raise RuntimeError("the test's fake connection was asked for a Temporal client")

    port = free_port()
    settings = ApiSettings(port=port, secure_cookies=False)
    app = create_app(settings, tokens.registry(), TemporalConnection(factory=no_temporal))
    async with served(app, port) as url, httpx.AsyncClient(base_url=url, timeout=30) as browser:
        await console_sign_in(browser, tokens.review)
        # The page for an address that is no ticket's needs no Temporal either; its forms' token.
        page = await browser.get("/console/tickets/not%20an%20id")
        form = {"action": "edit", "revision": "1", "csrf": page_csrf(page.text)}
        answer = await browser.post(
            "/console/tickets/not%20an%20id/review",
            headers={"Sec-Fetch-Site": "same-origin"},
            data=form | {"edited_text": TYPED},
        )

    assert page.status_code == 404, page.text[:500]
    assert answer.status_code == 404, answer.text[:500]
    assert "is not a ticket id" in answer.text and TYPED in answer.text
    assert asked == []
