"""The HTTP API over real HTTP, on the dev server with the real offline worker: intake, reading,
roles, the intake rate limit and the body limit (reviews: test_api_review.py)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.client import Client

from api.routes.intake import KEYED_ID_PREFIX
from policy.transitions import TicketState
from tests.api.helpers import routine_ticket, unique_id, urgent_ticket, wait_for_state
from tests.support.api_server import Tokens, bearer, serving
from tests.support.temporal import wait_until

pytestmark = pytest.mark.api


async def test_intake_submits_the_valid_items_and_names_the_field_of_each_invalid_one(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    first, last = unique_id(), unique_id()
    response = await http.post(
        "/tickets",
        headers=bearer(tokens.submit),
        json=[
            routine_ticket(first),
            {"subject": "No body here"},
            {"subject": "Gold", "body": "Which plan?", "tier": "gold"},
            42,
            routine_ticket(last),
            # A customer id that is not text, without a ticket id: the id was derived before
            # the fields were checked, and the TypeError made the whole request a 500.
            {"subject": "Numbers", "body": "Which plan?", "customer_id": ["C-1"]},
        ],
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert [(a["index"], a["ticket_id"], a["status"]) for a in body["accepted"]] == [
        (0, first, "submitted"),
        (4, last, "submitted"),
    ]
    refused = {r["index"]: r["problems"] for r in body["refused"]}
    assert refused[1] == ["field 'body' is missing"]
    assert "field 'tier' must be one of free, standard, premium, enterprise" in refused[2][0]
    assert refused[3] == ["expected a JSON object, got a number"]
    assert refused[5] == ["field 'customer_id' must be text, not a list"]

    done = await wait_for_state(http, tokens.review, first, "COMPLETED")
    assert done["message"]["body"].startswith("Hi, I forgot my password")
    assert done["message"]["customer_id"] == "C-2001"
    assert done["status"]["delivery"]["revision"] == 1


async def test_a_request_with_no_valid_ticket_is_refused_with_every_problem(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await http.post(
        "/tickets", headers=bearer(tokens.submit), json=[{"body": "no subject"}, "text"]
    )

    assert response.status_code == 422
    assert response.json()["problems"] == [
        "item 0: field 'subject' is missing",
        "item 1: expected a JSON object, got text",
    ]


async def test_a_retried_request_with_the_same_idempotency_key_returns_the_first_ticket(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    key = unique_id("key")
    ticket = routine_ticket("ignored") | {"id": None}
    first = await http.post(
        "/tickets", headers=bearer(tokens.submit) | {"Idempotency-Key": key}, json=ticket
    )
    again = await http.post(
        "/tickets",
        headers=bearer(tokens.submit) | {"Idempotency-Key": key},
        json=ticket | {"body": "Retried with other words."},
    )
    other_caller = await http.post(
        "/tickets", headers=bearer(tokens.admin) | {"Idempotency-Key": key}, json=ticket
    )

    assert first.status_code == again.status_code == 202
    [submitted], [duplicate] = first.json()["accepted"], again.json()["accepted"]
    assert submitted["status"] == "submitted" and duplicate["status"] == "duplicate"
    assert duplicate["ticket_id"] == submitted["ticket_id"]
    assert first.headers["Location"] == f"/tickets/{submitted['ticket_id']}"
    # A key is the caller's own: another token's same key is another ticket.
    assert other_caller.json()["accepted"][0]["ticket_id"] != submitted["ticket_id"]
    done = await wait_for_state(http, tokens.review, submitted["ticket_id"], "COMPLETED")
    assert done["message"]["body"].startswith("Hi, I forgot")


async def test_an_idempotency_key_on_a_list_or_beside_an_id_is_refused(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = bearer(tokens.submit) | {"Idempotency-Key": "k-1"}
    on_list = await http.post("/tickets", headers=headers, json=[routine_ticket(unique_id())])
    with_id = await http.post("/tickets", headers=headers, json=routine_ticket(unique_id()))

    # A blank id is no id, as everywhere else (a form's empty id column, 2026-12-07).
    blank = await http.post(
        "/tickets",
        headers=bearer(tokens.submit) | {"Idempotency-Key": unique_id()},
        json=routine_ticket(unique_id()) | {"id": " "},
    )

    assert on_list.status_code == with_id.status_code == 422
    assert "applies to a single ticket" in on_list.json()["message"]
    assert "either an id or an Idempotency-Key" in with_id.json()["message"]
    assert blank.status_code == 202, blank.text
    assert blank.json()["accepted"][0]["ticket_id"].startswith(KEYED_ID_PREFIX)


async def test_an_email_gateway_posts_a_message_and_a_redelivery_is_the_same_ticket(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    email = {
        "from": "Ana Lima <ana@example.com>",
        "subject": "  Invoice   missing ",
        "text": "I cannot find my invoice for March.",
        "message_id": f"<{unique_id()}@mail.example.com>",
        "html": "<p>ignored</p>",
    }
    first = await http.post("/tickets/email", headers=bearer(tokens.submit), json=email)
    again = await http.post("/tickets/email", headers=bearer(tokens.submit), json=email)
    no_text = await http.post(
        "/tickets/email", headers=bearer(tokens.submit), json=email | {"text": " ", "html": None}
    )

    assert first.status_code == 202 and again.status_code == 202
    ticket_id = first.json()["accepted"][0]["ticket_id"]
    # An intake-only token "does not read": not where a ticket of that content stands.
    assert again.json()["accepted"][0] == {
        "index": 0,
        "ticket_id": ticket_id,
        "status": "duplicate",
        "state": None,
    }
    # A token that may read is told (an e-mail's id is the token's own: the admin's first post
    # is a ticket of its own, its second a duplicate).
    for _ in range(2):
        by_admin = await http.post("/tickets/email", headers=bearer(tokens.admin), json=email)
    assert by_admin.json()["accepted"][0]["status"] == "duplicate"
    assert by_admin.json()["accepted"][0]["state"] in {s.value for s in TicketState}
    assert no_text.status_code == 422 and "field 'text' is empty" in no_text.json()["message"]
    read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
    message = read.json()["message"]
    assert (message["subject"], message["customer_id"], message["channel"]) == (
        "Invoice missing",
        "ana@example.com",
        "email",
    )
    # Where the answer goes, shown to whoever approves it (it was dropped from the message).
    assert message["customer_email"] == "ana@example.com"


async def test_tickets_are_listed_by_state_and_priority_a_page_at_a_time(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ids = [unique_id() for _ in range(3)]
    await http.post("/tickets", headers=bearer(tokens.submit), json=[urgent_ticket(i) for i in ids])
    for ticket_id in ids:
        await wait_for_state(http, tokens.review, ticket_id, "AWAITING_REVIEW")

    async def every_page() -> list[str] | None:
        """The listing's ids, a page at a time, once it holds the three (the listing is a
        moment behind the tickets' own states)."""
        seen: list[str] = []
        token = None
        for _ in range(20):
            params = {"state": "AWAITING_REVIEW", "priority": "Urgent", "page_size": "2"}
            if token:
                params["page_token"] = token
            page = await http.get("/tickets", headers=bearer(tokens.review), params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["tickets"]) <= 2
            assert all(
                t["state"] == "AWAITING_REVIEW" and t["priority"] == "Urgent"
                for t in body["tickets"]
            )
            seen += [t["ticket_id"] for t in body["tickets"]]
            token = body["next_page_token"]
            if not token:
                break
        return seen if set(ids) <= set(seen) else None

    seen = await wait_until(every_page, what="the three tickets in the listing")
    assert len(seen) == len(set(seen))

    bad_state = await http.get("/tickets", headers=bearer(tokens.review), params={"state": "x'"})
    bad_token = await http.get(
        "/tickets", headers=bearer(tokens.review), params={"page_token": "%%%"}
    )
    assert bad_state.status_code == 422 and "field 'state'" in bad_state.json()["problems"][0]
    forged = await http.get(
        "/tickets", headers=bearer(tokens.review), params={"page_token": "AAAAAAAA"}
    )
    assert bad_token.status_code == 400 and "page_token" in bad_token.json()["message"]
    assert forged.status_code == 400, forged.text
    # A typo'd filter answered the unfiltered list; a filter given twice kept the last.
    typo = await http.get(
        "/tickets", headers=bearer(tokens.review), params={"stat": "AWAITING_REVIEW"}
    )
    twice = await http.get(
        "/tickets?state=COMPLETED&state=AWAITING_REVIEW", headers=bearer(tokens.review)
    )
    assert typo.status_code == 400 and typo.json()["message"] == (
        "unknown query parameter(s) 'stat': /tickets takes category, page_size, page_token, "
        "priority, state"
    )
    assert twice.status_code == 400
    assert twice.json()["message"] == "query parameter 'state' given 2 times; give it once"
    # Who asks comes first: without a token the API knows, a 401 whatever the query (it was
    # this 400, the caller never looked at).
    for headers in ({}, bearer("tka_not-a-token")):
        for query in ("?stat=x", "?state=COMPLETED&state=AWAITING_REVIEW"):
            nobody = await http.get(f"/tickets{query}", headers=headers)
            assert nobody.status_code == 401, (headers, query, nobody.text)
    # And a token without the route's role its 403 (an intake token reads no list).
    submitter = await http.get("/tickets?stat=x", headers=bearer(tokens.submit))
    assert submitter.status_code == 403, submitter.text
    # In any case, as the CLI reads them (it was a 422 listing the values as written).
    any_case = await http.get(
        "/tickets",
        headers=bearer(tokens.review),
        params={"state": "awaiting_review", "category": "billing", "priority": " URGENT "},
    )
    assert any_case.status_code == 200, any_case.text
    # A monitor's cache-busting parameter on a health probe is not the API being down.
    probed = await http.get("/healthz", params={"ts": "1733234400"})
    assert probed.status_code == 200, probed.text
    # Nor is a load balancer's HEAD probe (it was a 405).
    for path in ("/healthz", "/readyz"):
        headed = await http.head(path)
        assert headed.status_code == 200 and headed.content == b"", (path, headed.status_code)


async def test_roles_decide_who_may_submit_read_and_review(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    review = {"action": "approve", "revision": 1}
    anonymous = await http.post(f"/tickets/{unique_id()}/review", json=review)
    unknown = await http.post(
        f"/tickets/{unique_id()}/review", headers=bearer("tka_not-a-token"), json=review
    )
    submitter_reviews = await http.post(
        f"/tickets/{unique_id()}/review", headers=bearer(tokens.submit), json=review
    )
    reviewer_submits = await http.post(
        "/tickets", headers=bearer(tokens.review), json=routine_ticket(unique_id())
    )
    anonymous_reads = await http.get("/review-queue")
    submitter_reads = await http.get("/review-queue", headers=bearer(tokens.submit))
    submitter_reads_one = await http.get(f"/tickets/{unique_id()}", headers=bearer(tokens.submit))
    reader_reads = await http.get("/review-queue", headers=bearer(tokens.read))
    reviewer_reads = await http.get("/report", headers=bearer(tokens.review))
    reader_reviews = await http.post(
        f"/tickets/{unique_id()}/review", headers=bearer(tokens.read), json=review
    )

    assert anonymous.status_code == unknown.status_code == anonymous_reads.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in anonymous.json()["message"]
    assert submitter_reviews.status_code == reviewer_submits.status_code == 403
    assert "needs the review or admin role" in submitter_reviews.json()["message"]
    assert "needs the submit or admin role" in reviewer_submits.json()["message"]
    # An intake token submits only: a leaked one must not read every customer's text.
    assert submitter_reads.status_code == submitter_reads_one.status_code == 403
    assert "needs the read, review or admin role" in submitter_reads.json()["message"]
    assert reader_reads.status_code == reviewer_reads.status_code == 200
    assert reader_reviews.status_code == 403


@pytest.fixture
async def strict_api(api_temporal: Client, tokens: Tokens) -> AsyncIterator[str]:
    """A server of its own with tight intake and report limits and a small body limit."""
    async with serving(
        api_temporal,
        tokens.registry(),
        intake_per_minute=1,
        intake_burst=2,
        report_per_minute=1,
        report_burst=2,
        read_per_minute=1,
        read_burst=2,
        max_body_bytes=4_096,
    ) as url:
        yield url


async def test_intake_beyond_a_tokens_burst_gets_429_with_retry_after(
    strict_api: str, tokens: Tokens
) -> None:
    async with httpx.AsyncClient(base_url=strict_api) as http:
        # Invalid bodies: the limit counts requests, and nothing needs to start.
        answers = [
            await http.post("/tickets", headers=bearer(tokens.submit), json={"subject": "x"})
            for _ in range(3)
        ]
        other_token = await http.post("/tickets", headers=bearer(tokens.admin), json={})

    assert [a.status_code for a in answers] == [422, 422, 429]
    limited = answers[2]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many intake requests for helpdesk" in limited.json()["message"]
    # The bucket is per token.
    assert other_token.status_code == 422


async def test_reports_beyond_a_tokens_burst_get_429_before_reading_temporal(
    strict_api: str, tokens: Tokens
) -> None:
    # A report reads up to 20,000 tickets' records from the visibility store: a loop of them
    # from one reader loads the store every worker needs.
    async with httpx.AsyncClient(base_url=strict_api, timeout=30) as http:
        answers = [
            await http.get("/report", headers=bearer(tokens.read), params={"since": "1m"})
            for _ in range(3)
        ]
        other_token = await http.get(
            "/report", headers=bearer(tokens.admin), params={"since": "1m"}
        )

    assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
    limited = answers[2]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many reports for" in limited.json()["message"]
    assert other_token.status_code == 200  # the bucket is per token


async def test_reads_beyond_a_tokens_burst_get_429_before_reading_temporal(
    strict_api: str, tokens: Tokens
) -> None:
    # A ticket is a query to a worker, the review queue up to 1,000 visibility records: one
    # read token looping on them loaded the API, Temporal and the workers without a limit.
    async with httpx.AsyncClient(base_url=strict_api, timeout=30) as http:
        answers = [
            await http.get("/tickets", headers=bearer(tokens.read)),
            await http.get("/review-queue", headers=bearer(tokens.read)),
            await http.get("/tickets/T-none-such", headers=bearer(tokens.read)),
        ]
        other_token = await http.get("/review-queue", headers=bearer(tokens.admin))

    assert [a.status_code for a in answers[:2]] == [200, 200], answers[1].text
    limited = answers[2]
    assert limited.status_code == 429, limited.text
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "too many reads for" in limited.json()["message"]
    assert other_token.status_code == 200  # the bucket is per token


async def test_a_body_over_the_limit_is_refused_with_413_declared_or_chunked(
    strict_api: str, tokens: Tokens
) -> None:
    big = b'{"subject": "x", "body": "' + b"a" * 5_000 + b'"}'

    async def chunks(data: bytes = big) -> AsyncIterator[bytes]:
        for start in range(0, len(data), 1_000):
            yield data[start : start + 1_000]

    async with httpx.AsyncClient(base_url=strict_api) as http:
        headers = bearer(tokens.admin) | {"Content-Type": "application/json"}
        declared = await http.post("/tickets", headers=headers, content=big)
        chunked = await http.post("/tickets", headers=headers, content=chunks())
        review = await http.post("/tickets/T-1/review", headers=headers, content=big)
        email = await http.post("/tickets/email", headers=headers, content=chunks())
        form = b"action=edit&revision=1&answer=" + b"a" * 5_000
        form_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        console_declared = await http.post(
            "/console/tickets/T-1/review", headers=form_headers, content=form
        )
        console_chunked = await http.post(
            "/console/tickets/T-1/review",
            headers=form_headers,
            content=chunks(form),
        )

    for response in (declared, chunked, review, email):
        assert response.status_code == 413
        assert "larger than this API accepts (4,096 bytes)" in response.json()["message"]
    assert f"({len(big):,} bytes)" in declared.json()["message"]
    # The console's forms get a page: the browser showed the JSON raw.
    for page in (console_declared, console_chunked):
        assert page.status_code == 413
        assert page.headers["content-type"].startswith("text/html"), page.text
        assert "larger than the console accepts (4,096 bytes), so nothing was applied" in page.text
    assert f"What you sent ({len(form):,} bytes)" in console_declared.text
    # Fewer tickets per request only where a request carries several.
    said = [
        r.json()["message"].endswith("; send fewer tickets per request")
        for r in (declared, chunked, review, email)
    ]
    assert said == [True, True, False, False]
