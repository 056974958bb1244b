"""Console sessions: the API token in a cookie, and a CSRF token for every form.

The cookie holds ``<nonce>.<token>`` (HttpOnly, so page scripts cannot read it; Secure; SameSite
Strict, so another site's page cannot make the browser send it). Secure cookies are named with
the ``__Host-`` prefix, which browsers keep only when set by this host itself, Secure, for path
``/`` and with no Domain: a page on a sibling subdomain cannot plant its own session or sign-in
token here (SameSite does not stop that; a planted session would file the reviewer's decisions
under the planter's account). Only the prefixed names are read then. Each form carries
HMAC-SHA256(token, nonce) as its CSRF token: unique to the sign-in, checkable by any API process
without shared state, and worthless without the token itself. The sign-in form has its own
double-submit token against login CSRF (a page signing you in as someone else).
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from api.accounts import Account, TokenRegistry

SESSION_COOKIE = "tickets_console"
SIGN_IN_COOKIE = "tickets_console_sign_in"
# A reviewer who stopped the queue's reloads keeps them stopped on later visits (WCAG 2.2.1).
STILL_QUEUE_COOKIE = "tickets_console_still_queue"
STILL_QUEUE_SECONDS = 365 * 24 * 3600
# Secure cookies: the prefix browsers enforce (path / only); insecure ones (plain HTTP on a
# network the operator trusts, TICKETS_API_INSECURE_COOKIES) cannot carry it.
HOST_PREFIX = "__Host-"
HOST_PATH = "/"
CONSOLE_PATH = "/console"
# A working day; after that the agent signs in again.
SESSION_SECONDS = 12 * 3600
SIGN_IN_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    account: Account
    csrf: str

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and same_secret(self.csrf, presented or "")


def same_secret(expected: str, presented: str) -> bool:
    """Constant-time comparison of two texts as bytes: hmac.compare_digest refuses a str with
    characters beyond ASCII (TypeError), which anyone can send in a form or a cookie."""
    return hmac.compare_digest(_bytes(expected), _bytes(presented))


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def csrf_token(token: str, nonce: str) -> str:
    return hmac.new(token.encode(), nonce.encode(), hashlib.sha256).hexdigest()


def cookie_name(name: str, secure: bool) -> str:
    return HOST_PREFIX + name if secure else name


def cookie_path(secure: bool) -> str:
    return HOST_PATH if secure else CONSOLE_PATH


def _get(request: Request, name: str, secure: bool) -> str | None:
    return request.cookies.get(cookie_name(name, secure))


def _delete(response: Response, name: str, secure: bool) -> None:
    response.delete_cookie(
        cookie_name(name, secure),
        path=cookie_path(secure),
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def has_cookie(request: Request, name: str, secure: bool) -> bool:
    """Whether the request carries the cookie ``name`` (SESSION_COOKIE, SIGN_IN_COOKIE) under
    the name it has with these settings."""
    return cookie_name(name, secure) in request.cookies


def current(request: Request, tokens: TokenRegistry, secure: bool) -> Session | None:
    value = _get(request, SESSION_COOKIE, secure) or ""
    nonce, _, token = value.partition(".")
    if not nonce or not token:
        return None
    account = tokens.find(token)
    if account is None:
        return None
    return Session(account, csrf_token(token, nonce))


def _delete_unprefixed(response: Response, *names: str) -> None:
    """The cookies a version before the prefix set (path /console), unread since: deleted at
    sign-in and sign-out, so a copy of the token does not outlive them in the browser."""
    for name in names:
        response.delete_cookie(
            name, path=CONSOLE_PATH, secure=True, httponly=True, samesite="strict"
        )


def start(response: Response, token: str, secure: bool) -> None:
    nonce = secrets.token_urlsafe(16)
    _set(response, SESSION_COOKIE, f"{nonce}.{token}", SESSION_SECONDS, secure)
    _delete(response, SIGN_IN_COOKIE, secure)
    if secure:
        _delete_unprefixed(response, SESSION_COOKIE, SIGN_IN_COOKIE, STILL_QUEUE_COOKIE)


def end(response: Response, secure: bool) -> None:
    _delete(response, SESSION_COOKIE, secure)
    if secure:
        _delete_unprefixed(response, SESSION_COOKIE)


def sign_in_token(request: Request, secure: bool) -> str:
    """The sign-in form's token: the one in the browser's cookie, or a new one."""
    return _get(request, SIGN_IN_COOKIE, secure) or secrets.token_urlsafe(16)


def remember_sign_in_token(response: Response, value: str, secure: bool) -> None:
    _set(response, SIGN_IN_COOKIE, value, SIGN_IN_SECONDS, secure)


def sign_in_token_ok(request: Request, presented: str | None, secure: bool) -> bool:
    expected = _get(request, SIGN_IN_COOKIE, secure)
    return bool(expected and presented) and same_secret(expected or "", presented or "")


def queue_kept_still(request: Request, secure: bool) -> bool:
    return _get(request, STILL_QUEUE_COOKIE, secure) == "1"


def keep_queue_still(response: Response, still: bool, secure: bool) -> None:
    if still:
        _set(response, STILL_QUEUE_COOKIE, "1", STILL_QUEUE_SECONDS, secure)
    else:
        _delete(response, STILL_QUEUE_COOKIE, secure)


def _set(response: Response, name: str, value: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        cookie_name(name, secure),
        value,
        max_age=max_age,
        path=cookie_path(secure),
        secure=secure,
        httponly=True,
        samesite="strict",
    )
