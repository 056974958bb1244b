"""The console's cookies (api/console/session.py): Secure ones carry the ``__Host-`` prefix, so a
page on a sibling subdomain cannot plant a session or a sign-in token; only the prefixed names
are read then."""

from starlette.requests import Request
from starlette.responses import Response

from api.accounts import Account, Role, TokenRegistry, token_hash
from api.console import session

TOKEN = "tka_review_token"
REVIEWER = Account("ana", frozenset({Role.REVIEW}))
TOKENS = TokenRegistry([(REVIEWER, token_hash(TOKEN))])


def request_with(cookies: dict[str, str]) -> Request:
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return Request(
        {"type": "http", "path": "/console/queue", "headers": [(b"cookie", header.encode())]}
    )


def set_cookies(response: Response) -> list[str]:
    return [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]


def attributes(header: str) -> tuple[str, set[str]]:
    pair, *rest = [part.strip() for part in header.split(";")]
    return pair.partition("=")[0], {part.lower() for part in rest}


def test_a_secure_session_cookie_is_host_prefixed_for_the_whole_host_without_a_domain() -> None:
    response = Response()
    session.start(response, TOKEN, secure=True)

    named = dict(attributes(h) for h in set_cookies(response))
    assert set(named) == {
        "__Host-tickets_console",
        "__Host-tickets_console_sign_in",
        # The unprefixed ones an earlier version set (path /console) go: one held the token.
        "tickets_console",
        "tickets_console_sign_in",
        "tickets_console_still_queue",
    }
    assert {"path=/console", "max-age=0", "secure"} <= named["tickets_console"]
    kept = named["__Host-tickets_console"]
    # What browsers demand of a __Host- cookie, or they drop it: Secure, Path=/, no Domain.
    assert {"secure", "path=/", "httponly", "samesite=strict"} <= kept
    assert not any(a.startswith("domain") for a in kept)
    # The sign-in token's cookie is deleted under the same rules, or browsers ignore the deletion.
    assert {"secure", "path=/", "max-age=0"} <= named["__Host-tickets_console_sign_in"]


def test_insecure_cookies_keep_their_plain_names_on_the_console_path() -> None:
    response = Response()
    session.remember_sign_in_token(response, "abc", secure=False)
    session.keep_queue_still(response, True, secure=False)

    named = dict(attributes(h) for h in set_cookies(response))
    assert set(named) == {"tickets_console_sign_in", "tickets_console_still_queue"}
    assert all("path=/console" in a and "secure" not in a for a in named.values())


def test_with_secure_cookies_a_planted_unprefixed_cookie_is_not_read() -> None:
    planted = request_with(
        {
            "tickets_console": f"nonce.{TOKEN}",
            "tickets_console_sign_in": "abc",
            "tickets_console_still_queue": "1",
        }
    )

    assert session.current(planted, TOKENS, secure=True) is None
    assert not session.sign_in_token_ok(planted, "abc", secure=True)
    assert not session.queue_kept_still(planted, secure=True)
    assert not session.has_cookie(planted, session.SESSION_COOKIE, secure=True)
    # The same cookies are the console's own when it runs with insecure cookies.
    found = session.current(planted, TOKENS, secure=False)
    assert found is not None and found.account == REVIEWER
    assert session.sign_in_token_ok(planted, "abc", secure=False)


def test_a_prefixed_session_is_read_and_deleted_with_the_attributes_it_was_set_with() -> None:
    kept = request_with({"__Host-tickets_console": f"nonce.{TOKEN}"})
    found = session.current(kept, TOKENS, secure=True)
    assert found is not None and found.account == REVIEWER
    assert found.csrf == session.csrf_token(TOKEN, "nonce")

    response = Response()
    session.end(response, secure=True)
    deleted = dict(attributes(h) for h in set_cookies(response))
    assert {"secure", "path=/", "max-age=0"} <= deleted["__Host-tickets_console"]
    assert {"path=/console", "max-age=0"} <= deleted["tickets_console"]
    assert set(deleted) == {"__Host-tickets_console", "tickets_console"}
