"""The console when a form cannot be applied, without a browser (httpx against the real API on
the dev server): a form token no session made, a review no worker answers in time, and a
review with no worker at all. What the reviewer typed is never lost."""

import html
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.console import pages
from shared import review_operations, ticket_status
from shared.operation_errors import TicketUnreadable
from shared.review import MAX_EDITED_CHARS
from shared.temporal_client import connect, connection_settings
from tests.api.helpers import (
    console_sign_in,
    page_csrf,
    routine_ticket,
    stalled_ticket,
    unique_id,
    urgent_ticket,
    wait_for_state,
)
from tests.api.stalled_review_workflow import DRAFT
from tests.support.api_server import API_FUZZ_NAMESPACE, Tokens, bearer, serving
from tests.support.temporal import CONVERTER, wait_until

pytestmark = pytest.mark.api

TYPED = "Dear Ana, we have refunded order 7 — UNIQUE-TYPED-REPLY"
# What a browser sends with a form posted from the console's own page.
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def edit_box(page: str) -> str:
    """What the page's edit form would send."""
    found = re.search(r'<textarea id="edited_text"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page[:2_000]
    return html.unescape(found.group(1))


async def test_a_form_token_beyond_ascii_is_refused_with_403_never_a_500(
    console_url: str, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id("CSRF")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as browser:
        await browser.get("/console/sign-in")  # the sign-in form's cookie
        sign_in = await browser.post(
            "/console/sign-in", data={"token": tokens.review, "sign_in_csrf": "é" * 22}
        )
        await console_sign_in(browser, tokens.review)
        review = await browser.post(
            f"/console/tickets/{ticket_id}/review",
            data={"action": "edit", "revision": "1", "csrf": "ü" * 64, "edited_text": TYPED},
            headers=SAME_ORIGIN,
        )
        # The same post from somewhere the browser does not name (an older browser sends no
        # Sec-Fetch-Site): its text was put in the edit form, with a fresh token, one click
        # from being sent (a review, 2026-12-07). Shown apart now.
        planted = await browser.post(
            f"/console/tickets/{ticket_id}/review",
            data={"action": "edit", "revision": "1", "csrf": "x" * 64, "edited_text": TYPED},
        )
        sign_out = await browser.post("/console/sign-out", data={"csrf": "ß" * 64})

    assert sign_in.status_code == 403, sign_in.text
    assert "the sign-in form expired" in sign_in.text
    assert review.status_code == 403, review.text
    assert "the form expired; look again and resubmit" in review.text
    assert edit_box(review.text) == TYPED
    assert planted.status_code == 403 and "the form expired" in planted.text
    assert TYPED in planted.text and edit_box(planted.text) != TYPED
    assert "the browser did not say it came from this console" in planted.text
    assert "the browser did not say it came from this console" not in review.text
    assert sign_out.status_code == 403, sign_out.text


async def test_a_review_no_worker_answers_in_time_shows_the_ticket_again_with_the_typed_text(
    console: httpx.AsyncClient, api_temporal: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker takes the update and never answers: the caller's wait runs out.
    monkeypatch.setattr(review_operations, "REVIEW_TIMEOUT", 1.0)
    async with stalled_ticket(api_temporal) as ticket_id:

        async def shown() -> str | None:
            page = await console.get(f"/console/tickets/{ticket_id}")
            return page.text if 'id="edit-form"' in page.text else None

        page = await wait_until(shown, timeout=30, what=f"{ticket_id} shown for review")
        answer = await console.post(
            f"/console/tickets/{ticket_id}/review",
            data={
                "action": "edit",
                "revision": "1",
                "chain": "",
                "csrf": page_csrf(page),
                "edited_text": TYPED,
            },
        )

    assert answer.status_code == 504, answer.text
    assert "your review may still be applied: reload the page before sending it again" in (
        answer.text
    )
    # The page again, its edit box holding what the reviewer wrote (not the draft).
    assert 'id="edit-form"' in answer.text and TYPED in answer.text
    assert DRAFT in answer.text


@pytest.fixture
async def console_without_worker(
    dev_env: WorkflowEnvironment, tokens: Tokens
) -> AsyncIterator[httpx.AsyncClient]:
    """The console on the fuzzing namespace, where no worker runs."""
    address = dev_env.client.service_client.config.target_host
    settings = connection_settings(
        {"TEMPORAL_ADDRESS": address, "TEMPORAL_NAMESPACE": API_FUZZ_NAMESPACE}
    )
    client = await connect(settings, converter=CONVERTER)
    async with (
        serving(client, tokens.registry(), secure_cookies=False) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


async def test_a_review_with_no_worker_running_keeps_the_typed_text_on_the_trouble_page(
    console_without_worker: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With no worker the ticket's page cannot be shown either (its status query waits for one).
    monkeypatch.setattr(ticket_status, "QUERY_TIMEOUT", timedelta(seconds=1))
    http = console_without_worker
    ticket_id = unique_id("NOWORKER")
    submitted = await http.post(
        "/tickets", headers=bearer(tokens.submit), json=routine_ticket(ticket_id)
    )
    assert submitted.status_code == 202, submitted.text
    await console_sign_in(http, tokens.review)
    queue = await http.get("/console/queue")

    answer = await http.post(
        f"/console/tickets/{ticket_id}/review",
        data={"action": "reject", "revision": "", "csrf": page_csrf(queue.text), "reason": TYPED},
    )

    assert answer.status_code == 503, answer.text
    assert "not sent: no worker answered on the tickets task queue" in answer.text
    assert 'id="typed-reason"' in answer.text and TYPED in answer.text


async def test_a_review_sent_after_signing_out_shows_what_was_typed_on_the_sign_in_page(
    console_url: str,
) -> None:
    # Signed out in another tab (or the session ended) while writing: the review went to the
    # sign-in page and what the reviewer typed was gone.
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as signed_out:
        sent = await signed_out.post(
            "/console/tickets/T-1/review",
            data={"action": "edit", "revision": "1", "csrf": "x", "edited_text": TYPED},
            headers=SAME_ORIGIN,
        )
        empty = await signed_out.post(
            "/console/tickets/T-1/review",
            data={"action": "approve", "csrf": "x"},
            headers=SAME_ORIGIN,
        )
        # Not from the console's own form (no browser's Sec-Fetch-Site: same-origin): a page
        # elsewhere could put text of its choosing beside the token field.
        planted = await signed_out.post(
            "/console/tickets/T-1/review",
            data={"action": "edit", "csrf": "x", "edited_text": "Paste your token at evil.test"},
        )

    assert planted.status_code == 303 and planted.headers["location"] == "/console/sign-in"
    assert "evil.test" not in planted.text
    assert sent.status_code == 401
    assert "your review of ticket T-1 was not sent" in sent.text
    # Said to copy it first: signing in opens the ticket's page with the draft, not this text
    # (a review, 2026-12-07: it said only that the text was below).
    assert "copy what you wrote (below) before you sign in" in sent.text
    assert 'id="typed-edited_text"' in sent.text and TYPED in sent.text
    assert 'name="sign_in_csrf"' in sent.text  # the sign-in form, to sign in again
    assert empty.status_code == 303  # nothing typed: to the sign-in page, as before


async def test_signing_in_again_after_a_review_sent_signed_out_goes_back_to_that_ticket(
    console_url: str, tokens: Tokens
) -> None:
    # It went to the queue, and the reviewer had to find the ticket again.
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as browser:
        sent = await browser.post(
            "/console/tickets/T-1/review",
            data={"action": "edit", "revision": "1", "csrf": "x", "edited_text": TYPED},
            headers=SAME_ORIGIN,
        )
        found = re.search(r'name="sign_in_csrf" value="([^"]+)"', sent.text)
        assert found, sent.text
        assert '<input type="hidden" name="then" value="/console/tickets/T-1">' in sent.text
        back = await browser.post(
            "/console/sign-in",
            data={
                "token": tokens.review,
                "sign_in_csrf": found.group(1),
                "then": "/console/tickets/T-1",
            },
        )
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as browser:
        form = await browser.get("/console/sign-in")
        found = re.search(r'name="sign_in_csrf" value="([^"]+)"', form.text)
        assert found, form.text
        elsewhere = await browser.post(
            "/console/sign-in",
            data={"token": tokens.review, "sign_in_csrf": found.group(1), "then": "//evil.test/"},
        )

    # Only a ticket's page of this console: never another site (an open redirect).
    assert elsewhere.status_code == 303 and elsewhere.headers["location"] == "/console/queue"
    assert back.status_code == 303 and back.headers["location"] == "/console/tickets/T-1"


async def test_a_ticket_link_opened_signed_out_opens_that_ticket_once_signed_in(
    console_url: str, tokens: Tokens
) -> None:
    # A link from a helpdesk or a bookmark arrives without the SameSite=Strict cookie: signing
    # in went to the queue, the ticket lost.
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as browser:
        link = await browser.get("/console/tickets/T-42")
        form = await browser.get(link.headers["location"])
        found = re.search(r'name="sign_in_csrf" value="([^"]+)"', form.text)
        assert found, form.text
        then = re.search(r'name="then" value="([^"]+)"', form.text)
        back = await browser.post(
            "/console/sign-in",
            data={"token": tokens.review, "sign_in_csrf": found.group(1), "then": then[1]}
            if then
            else {},
        )
        elsewhere = await browser.get("/console/sign-in?then=//evil.test/")

    assert link.status_code == 303
    assert link.headers["location"] == "/console/sign-in?then=%2Fconsole%2Ftickets%2FT-42"
    assert then is not None and then[1] == "/console/tickets/T-42"
    assert back.status_code == 303 and back.headers["location"] == "/console/tickets/T-42"
    assert 'name="then"' not in elsewhere.text  # only a ticket's page of this console


async def test_sign_in_fields_too_long_to_be_right_answer_with_the_page_not_json(
    console_url: str, tokens: Tokens
) -> None:
    # Each was the API's JSON 422 ("string_too_long"), shown raw by the browser.
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as browser:
        form = await browser.get("/console/sign-in")
        found = re.search(r'name="sign_in_csrf" value="([^"]+)"', form.text)
        assert found, form.text
        pasted = await browser.post(
            "/console/sign-in", data={"token": "t" * 201, "sign_in_csrf": found.group(1)}
        )
        long_csrf = await browser.post(
            "/console/sign-in", data={"token": tokens.review, "sign_in_csrf": "c" * 101}
        )
        form = await browser.get("/console/sign-in")
        found = re.search(r'name="sign_in_csrf" value="([^"]+)"', form.text)
        assert found, form.text
        long_then = await browser.post(
            "/console/sign-in",
            data={"token": tokens.review, "sign_in_csrf": found.group(1), "then": "/" * 301},
        )
        sign_out = await browser.post("/console/sign-out", data={"csrf": "c" * 101})

    assert pasted.status_code == 401 and "this token is not known to the API" in pasted.text
    assert long_csrf.status_code == 403 and "the sign-in form expired" in long_csrf.text
    assert long_then.status_code == 303 and long_then.headers["location"] == "/console/queue"
    assert sign_out.status_code == 403 and "form expired" in sign_out.text
    for page in (pasted, long_csrf, sign_out):
        assert page.headers["content-type"].startswith("text/html")


async def test_a_form_or_an_address_that_was_tampered_with_keeps_the_typed_text_and_echoes_little(
    console: httpx.AsyncClient, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    """A 60,000-character id came back whole in the 404 page; a review sent to an id that is
    not one lost what the reviewer typed; a revision longer than 20 characters answered JSON."""
    ticket_id = unique_id("TAMPER")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    page = (await console.get(f"/console/tickets/{ticket_id}")).text

    long_id = await console.get("/console/tickets/" + "z" * 60_000)
    bad_id = await console.post(
        "/console/tickets/not%20an%20id/review",
        data={"action": "edit", "revision": "1", "csrf": page_csrf(page), "edited_text": TYPED},
    )
    long_revision = await console.post(
        f"/console/tickets/{ticket_id}/review",
        data={
            "action": "edit",
            "revision": "9" * 5_000,
            "csrf": page_csrf(page),
            "edited_text": TYPED,
        },
    )

    assert long_id.status_code == 404 and "(60,000 characters) is not a ticket id" in long_id.text
    assert len(long_id.text) < 20_000
    assert bad_id.status_code == 404 and TYPED in bad_id.text, bad_id.text[:500]
    assert long_revision.status_code == 422, long_revision.text[:300]
    assert long_revision.headers["content-type"].startswith("text/html")
    assert TYPED in long_revision.text and "9" * 100 not in long_revision.text


async def test_a_form_post_no_console_form_could_be_is_refused_before_it_is_parsed(
    console_url: str,
) -> None:
    # Anyone may post to the console, and its forms were parsed on the event loop before any
    # check: a 1 MiB body of '&' held the whole API for half a second. A console form is at
    # most 192 KiB (a review's three texts at their longest, percent-encoded) and a few fields.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as anyone:
        fields = await anyone.post("/console/sign-in", headers=form, content=b"&" * 100_000)
        big = await anyone.post("/console/sign-in", headers=form, content=b"a" * 200_000)
        longest = "\U0001f600" * MAX_EDITED_CHARS
        review = await anyone.post(
            "/console/tickets/T-1/review",
            data={"action": "edit", "csrf": "x", "edited_text": longest},
        )

    assert fields.status_code == 400 and "Not a console form" in fields.text
    assert big.status_code == 413 and "larger than the console accepts (196,608 bytes)" in big.text
    for page in (fields, big):
        assert page.headers["content-type"].startswith("text/html")
    # The longest edit still reaches the route (signed out here: to the sign-in page).
    assert review.status_code == 303 and review.headers["location"] == "/console/sign-in"


async def test_the_shared_database_down_shows_pages_not_json_and_keeps_the_typed_text(
    console: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A ticket whose view or input is over the offload size lives in the shared database: with
    # it down, the console answered its pages with the API's JSON error, the typed reply lost.
    from api.console import pages
    from shared.stores.errors import StoreUnavailable

    async def database_down(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("the payload database (db.internal/tickets) does not answer")

    queue = await console.get("/console/queue")
    monkeypatch.setattr(pages.review_operations, "submit_review", database_down)
    monkeypatch.setattr(pages, "read_ticket", database_down)
    monkeypatch.setattr(pages.listing, "review_queue", database_down)

    answer = await console.post(
        "/console/tickets/T-DBDOWN/review",
        data={
            "action": "edit",
            "revision": "1",
            "chain": "",
            "csrf": page_csrf(queue.text),
            "edited_text": TYPED,
        },
    )
    shown = await console.get("/console/tickets/T-DBDOWN")
    listed = await console.get("/console/queue")

    for response in (answer, shown, listed):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "the shared database is unavailable" in response.text
    assert TYPED in answer.text


async def test_the_ticket_page_names_its_wait_and_a_review_from_another_wait_is_refused(
    console: httpx.AsyncClient, http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id("WAIT")
    await http.post("/tickets", headers=bearer(tokens.submit), json=urgent_ticket(ticket_id))
    waiting = await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")
    page = (await console.get(f"/console/tickets/{ticket_id}")).text
    shown = re.findall(r'name="waiting_since" value="([^"]*)"', page)

    answer = await console.post(
        f"/console/tickets/{ticket_id}/review",
        data={
            "action": "edit",
            "revision": "1",
            "chain": "",
            "waiting_since": "2020-01-01T00:00:00+00:00",  # a page from another wait
            "csrf": page_csrf(page),
            "edited_text": TYPED,
        },
    )

    tampered = await console.post(
        f"/console/tickets/{ticket_id}/review",
        data={
            "action": "edit",
            "revision": "1",
            "waiting_since": "2020-01-01T00:00:00",  # no zone: no instant to compare
            "csrf": page_csrf(page),
            "edited_text": TYPED,
        },
    )

    assert tampered.status_code == 422, tampered.text
    assert "wait for review is not a time with its zone" in tampered.text
    assert TYPED in tampered.text
    # Each of the page's four forms carries the wait it showed.
    began = datetime.fromisoformat(waiting["status"]["waiting_since"])
    assert len(shown) == 4 and {datetime.fromisoformat(v) for v in shown} == {began}
    assert answer.status_code == 409, answer.text
    assert "wait for this review began at" in answer.text
    assert TYPED in answer.text


async def test_console_pages_beyond_the_accounts_read_allowance_get_429_with_retry_after(
    api_temporal: Client, tokens: Tokens
) -> None:
    # The queue page reads up to 1,000 visibility records; a page reloading in many tabs (or a
    # stolen cookie in a loop) read them without a limit.
    async with (
        serving(
            api_temporal, tokens.registry(), secure_cookies=False, read_per_minute=1, read_burst=2
        ) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as browser,
    ):
        await console_sign_in(browser, tokens.review)
        pages = [await browser.get("/console/queue") for _ in range(2)]
        limited = await browser.get("/console/tickets/T-none-such")

    assert [p.status_code for p in pages] == [200, 200], pages[-1].text
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many reads for" in limited.text


async def test_reviews_take_from_the_read_allowance_in_the_console_and_the_api(
    api_temporal: Client, tokens: Tokens
) -> None:
    # A refused review shows the ticket again (a describe, a status query, a history read), and
    # the API's reads the ticket before its update: a stolen cookie or token looping on stale
    # reviews loaded Temporal and the workers, uncounted.
    async with (
        serving(
            api_temporal, tokens.registry(), secure_cookies=False, read_per_minute=1, read_burst=1
        ) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as browser,
    ):
        await console_sign_in(browser, tokens.review)
        first = await browser.get("/console/tickets/T-none-such")
        posted = await browser.post(
            "/console/tickets/T-none-such/review",
            headers=SAME_ORIGIN,
            data={"action": "edit", "revision": "1", "csrf": "x", "edited_text": TYPED},
        )
        api = await browser.post(
            "/tickets/T-none-such/review",
            headers=bearer(tokens.review),
            json={"action": "approve", "revision": 1_000_000},
        )

    assert first.status_code == 404, first.text
    assert posted.status_code == 429, posted.text
    assert TYPED in posted.text  # what was typed is there to copy
    assert api.status_code == 429, api.text
    assert "too many reads for" in api.json()["message"]


async def test_a_ticket_that_cannot_be_read_here_is_a_502_page_as_in_the_api(
    console: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API answers 502 for it (the ticket exists; this process cannot read it); the console
    # answered 503, which reads as "try again later" when the fix is a key or a store.
    async def unreadable(client: Client, ticket_id: str, **_: object) -> None:
        raise TicketUnreadable(f"ticket {ticket_id} refers to a payload that cannot be read here")

    monkeypatch.setattr(pages, "read_ticket", unreadable)
    answer = await console.get("/console/tickets/T-UNREADABLE")

    assert answer.status_code == 502, answer.text
    assert "ticket T-UNREADABLE refers to a payload that cannot be read here" in answer.text


async def test_a_console_address_that_does_not_exist_or_take_the_method_answers_a_page(
    console: httpx.AsyncClient,
) -> None:
    # The API's JSON, which a browser shows raw, answered both.
    missing = await console.get("/console/no-such-page")
    wrong_method = await console.get("/console/sign-out")

    assert missing.status_code == 404, missing.text
    assert wrong_method.status_code == 405, wrong_method.text
    for answer in (missing, wrong_method):
        assert answer.headers["content-type"].startswith("text/html"), answer.headers
        assert '<a href="/console/queue">The review queue</a>' in answer.text
    assert "The console has no such page." in missing.text
    assert "GET is not allowed on /console/sign-out." in wrong_method.text
    assert "allow" in {k.lower() for k in wrong_method.headers}


async def test_a_form_post_no_browser_sends_is_answered_with_a_page_not_the_apis_json(
    console_url: str,
) -> None:
    # A review (2026-12-07): a multipart post with no boundary was a JSON 400, and a file where
    # a text field goes a JSON 422; every console answer is a page (docs/api.md).
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as anyone:
        no_boundary = await anyone.post(
            "/console/sign-in", headers={"Content-Type": "multipart/form-data"}, content=b"x"
        )
        a_file = await anyone.post(
            "/console/sign-in",
            files={"token": ("token.txt", b"tka_x"), "sign_in_csrf": ("csrf.txt", b"x")},
        )

    assert no_boundary.status_code == 400, no_boundary.text
    assert a_file.status_code == 422, a_file.text
    for answer in (no_boundary, a_file):
        assert answer.headers["content-type"].startswith("text/html"), answer.text[:300]
        assert '<a href="/console/queue">The review queue</a>' in answer.text
    assert "Missing boundary in multipart." in no_boundary.text
    assert "The form was not one the console sends" in a_file.text
