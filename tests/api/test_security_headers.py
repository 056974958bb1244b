"""What every answer tells a browser and a cache, and the console's refusal of forms posted from
another site (api/security_headers.py)."""

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.security_headers import CONSOLE_POLICY, style_source
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared.stores.errors import StoreUnavailable
from tests.api.helpers import page_csrf
from tests.support.api_server import Tokens, bearer


async def test_the_console_allows_no_script_no_framing_and_no_caching(
    console: httpx.AsyncClient,
) -> None:
    page = await console.get("/console/queue")

    assert page.status_code == 200, page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text  # the policy would block one: the console needs none
    # Styles: only the page's own <style> element, by the hash of the text served, nothing
    # inline besides it (no 'unsafe-inline': an injected element or attribute is not applied).
    [style] = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}';" in policy
    assert "unsafe-inline" not in policy and " style=" not in page.text


async def test_api_answers_with_customer_text_are_not_cached(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    listing = await http.get("/tickets", headers=bearer(tokens.read))

    assert listing.status_code == 200, listing.text
    assert listing.headers["cache-control"] == "no-store"
    assert listing.headers["x-content-type-options"] == "nosniff"
    assert listing.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in listing.headers  # JSON: the console's policy only


async def test_a_console_form_posted_from_another_site_is_refused(
    console: httpx.AsyncClient,
) -> None:
    # Signing out needs no session (a cross-site POST carries none under SameSite=Strict), so
    # any page could sign a reviewer out while they typed a review.
    foreign = await console.post(
        "/console/sign-out", data={"csrf": ""}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    still_in = await console.get("/console/queue")
    own = await console.post(
        "/console/sign-out",
        data={"csrf": page_csrf(still_in.text)},
        headers={"Sec-Fetch-Site": "same-origin"},
    )

    assert foreign.status_code == 403 and "another site is refused" in foreign.text
    assert still_in.status_code == 200 and "sign-in" not in str(still_in.url)
    # The console's own form goes through (its CSRF token checked as ever): to the sign-in page.
    assert own.status_code == 303 and own.headers["location"].endswith("/console/sign-in")


async def test_a_sign_out_carrying_no_session_ends_none(console_url: str) -> None:
    # A cross-site POST carries no session cookie (SameSite=Strict), so it passes no CSRF check;
    # its answer deleted the session cookie all the same, and in a browser that sends no
    # Sec-Fetch-Site any page could sign a reviewer out.
    async with httpx.AsyncClient(base_url=console_url, timeout=30) as foreign:
        answer = await foreign.post("/console/sign-out", data={"csrf": ""})
    assert answer.status_code == 303
    assert "set-cookie" not in answer.headers


async def test_the_documentation_pages_are_off_unless_turned_on(tokens: Tokens) -> None:
    # They load their scripts from a CDN on the console's origin, where such a script could
    # read the console's pages.
    off = ApiSettings.from_env({})
    assert not off.docs and not ApiSettings.from_env({"TICKETS_API_DOCS": "off"}).docs
    assert ApiSettings.from_env({"TICKETS_API_DOCS": "on"}).docs
    app = create_app(off, tokens.registry(), TemporalConnection())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as local:
        docs, redoc, schema = [await local.get(p) for p in ("/docs", "/redoc", "/openapi.json")]

    assert (docs.status_code, redoc.status_code, schema.status_code) == (404, 404, 200)


async def test_an_unexpected_errors_answer_carries_the_headers_too(tokens: Tokens) -> None:
    # Starlette answers an unhandled error outside every middleware.
    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection())

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        answer = await local.get("/broken")

    assert answer.status_code == 500 and "internal error (reference" in answer.json()["message"]
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_an_unexpected_error_on_the_console_is_a_page_under_the_consoles_policy(
    tokens: Tokens,
) -> None:
    # The console's answers carry its script-free policy; its 500 was the API's JSON without it.
    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection())

    @app.get("/console/broken")
    async def broken() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        answer = await local.get("/console/broken")

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert "internal error (reference" in answer.text and "a bug" not in answer.text
    assert answer.headers["content-security-policy"] == CONSOLE_POLICY
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/broken", "/console/broken"])
async def test_a_bug_over_a_database_outage_answers_503_with_the_headers(
    tokens: Tokens, path: str
) -> None:
    # A bug raised while handling the database's outage reaches the outermost handler, which
    # answered the outage's 503 without the headers every answer carries (or the console's).
    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection())

    @app.get(path)
    async def broken() -> None:
        try:
            raise StoreUnavailable("database db1 at pg.internal is unreachable")
        except StoreUnavailable as err:
            raise RuntimeError("a bug in the handling") from err

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        answer = await local.get(path)

    assert answer.status_code == 503
    assert "the shared database is unavailable" in answer.text
    assert answer.headers["cache-control"] == "no-store"
    if path.startswith("/console"):
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["content-security-policy"] == CONSOLE_POLICY
    else:
        assert "content-security-policy" not in answer.headers
        assert "try again shortly" in answer.json()["message"]


async def test_a_body_is_not_read_for_a_caller_without_a_known_token(tokens: Tokens) -> None:
    # FastAPI parses a route's JSON body before its dependencies check the token: anyone could
    # make the API parse a megabyte per request. Now the body is never read without one.
    app = create_app(ApiSettings(), tokens.registry(), TemporalConnection())
    read: list[int] = []

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        async def counting() -> Any:
            message = await receive()
            read.append(len(message.get("body", b"")))
            return message

        await app(scope, counting, send)

    body = "[" + ",".join(['{"subject": "x", "body": "y"}'] * 20_000) + "]"
    transport = httpx.ASGITransport(app=counted)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        nobody = await local.post("/tickets", content=body)
        stranger = await local.post("/tickets", content=body, headers=bearer("tka_unknown"))
        reader = await local.post("/tickets", content="{}", headers=bearer(tokens.read))

    assert nobody.status_code == stranger.status_code == 401
    assert "this needs an API token" in nobody.json()["message"]
    assert "does not know that token" in stranger.json()["message"]
    assert nobody.headers["www-authenticate"] == "Bearer"
    # Not even a known token's body is read when its role is not the route's (it was, then the
    # route said 403).
    assert sum(read) == 0
    assert reader.status_code == 403
    assert "needs the submit or admin role" in reader.json()["message"]


async def test_a_body_is_checked_against_its_route_s_role_and_intake_allowance_first(
    tokens: Tokens,
) -> None:
    # A submit token (the one most likely to leak) made the API parse a megabyte for the review
    # route before its 403; an intake body that did not parse was a 400 that never took a
    # request from the token's allowance, so bad bodies could be sent without limit.
    settings = ApiSettings(intake_per_minute=1, intake_burst=2)
    app = create_app(settings, tokens.registry(), TemporalConnection())
    transport = httpx.ASGITransport(app=app)
    json_type = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        review = await local.post(
            "/tickets/T-1/review", content=b"{", headers=bearer(tokens.submit) | json_type
        )
        bad = [
            await local.post(
                "/tickets", content=b'{"a": 1, "a": 2}', headers=bearer(tokens.submit) | json_type
            )
            for _ in range(3)
        ]

    assert review.status_code == 403 and "needs the review" in review.json()["message"]
    assert [b.status_code for b in bad] == [400, 400, 429]
    assert bad[2].headers["retry-after"]


async def test_a_review_body_takes_a_read_from_the_token_s_allowance_before_it_is_parsed(
    tokens: Tokens,
) -> None:
    # A review that failed validation (a 422) never took a read: a review token could make the
    # API parse a megabyte per request without limit. Now the read is taken before the body.
    settings = ApiSettings(read_per_minute=1, read_burst=2)
    app = create_app(settings, tokens.registry(), TemporalConnection())
    transport = httpx.ASGITransport(app=app)
    json_type = {"Content-Type": "application/json"}
    unknown_fields = b'{"action": "approve", "revision": 1, "x": [' + b"{}," * 1000 + b"{}]}"
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as local:
        bad = [
            await local.post(
                "/tickets/T-1/review", content=body, headers=bearer(tokens.review) | json_type
            )
            for body in (b"{", unknown_fields, b"{")
        ]

    assert [b.status_code for b in bad[:2]] == [400, 422], [b.text for b in bad]
    assert bad[2].status_code == 429 and "too many reads for" in bad[2].json()["message"]
    assert bad[2].headers["retry-after"]


@pytest.mark.parametrize(
    "syntax", ["{{ colour }}", "{% if dark %}black{% endif %}", "{# a comment #}black"]
)
def test_a_style_element_holding_template_syntax_is_refused(tmp_path: Path, syntax: str) -> None:
    # The served text would differ from the template's (a comment is dropped), and no hash taken
    # from the template would match it.
    template = tmp_path / "base.html"
    template.write_text(f"<style>\n  body {{ color: {syntax}; }}\n</style>", encoding="utf-8")

    with pytest.raises(ValueError, match=re.escape("the <style> element must hold no template")):
        style_source(template)
