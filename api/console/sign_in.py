"""The console's sign-in and sign-out: a review token exchanged for a session cookie, each form
with its own token against cross-site posts."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.accounts import Role
from api.console import session
from api.console.rendering import console_page, page, signed_in, to_sign_in
from api.deps import registry, settings

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/sign-in")
async def sign_in_form(request: Request, then: str = "") -> Response:
    """``then``: the ticket's page to open once signed in (``console_page`` keeps it to one of
    ours); the ticket page of a signed-out visit sends it."""
    return sign_in_page(request, None, 200, then=then[:MAX_THEN_CHARS])


def sign_in_page(
    request: Request,
    error: str | None,
    status: int,
    typed: dict[str, str] | None = None,
    then: str | None = None,
) -> Response:
    """``typed``: what a signed-out reviewer wrote in a review form, shown to copy, not lost;
    ``then``: the console page to go to once signed in (the ticket they were reviewing)."""
    value = session.sign_in_token(request, settings(request).secure_cookies)
    context = {
        "session": None,
        "error": error,
        "sign_in_csrf": value,
        "typed": typed or {},
        "then": console_page(then),
    }
    response = page(request, "sign_in.html", context, status)
    session.remember_sign_in_token(response, value, settings(request).secure_cookies)
    return response


# The longest sign-in fields worth comparing: a token, the form's own token, the page to go to.
MAX_TOKEN_CHARS = 200
MAX_CSRF_CHARS = 100
MAX_THEN_CHARS = 300


@router.post("/sign-in")
async def sign_in(
    request: Request,
    token: Annotated[str, Form()] = "",
    sign_in_csrf: Annotated[str, Form()] = "",
    then: Annotated[str, Form()] = "",
) -> Response:
    # Each field's length is checked here, answered with the page: a Form(max_length) refusal
    # was the API's JSON 422, shown raw by the browser (the body limit bounds them all).
    then = then if len(then) <= MAX_THEN_CHARS else ""
    csrf_ok = len(sign_in_csrf) <= MAX_CSRF_CHARS and session.sign_in_token_ok(
        request, sign_in_csrf, settings(request).secure_cookies
    )
    if not csrf_ok:
        return sign_in_page(request, _no_sign_in_cookie(request), 403, then=then)
    account = registry(request).find(token.strip()) if len(token) <= MAX_TOKEN_CHARS else None
    if account is None:
        return sign_in_page(request, "this token is not known to the API", 401, then=then)
    if not account.may(Role.REVIEW):
        held = ", ".join(sorted(account.roles))
        return sign_in_page(
            request, f"the token of {account.name} ({held}) may not review tickets", 403, then=then
        )
    response = RedirectResponse(console_page(then) or "/console/queue", status_code=303)
    session.start(response, token.strip(), settings(request).secure_cookies)
    return response


def _no_sign_in_cookie(request: Request) -> str:
    """Why the sign-in form's cookie did not match: browsers keep a Secure cookie only over
    HTTPS or on localhost, so over plain HTTP elsewhere every attempt would say "expired"."""
    host = (request.url.hostname or "").lower()
    plain_http = request.url.scheme == "http" and host not in ("localhost", "127.0.0.1", "::1")
    secure = settings(request).secure_cookies
    if secure and plain_http and not session.has_cookie(request, session.SIGN_IN_COOKIE, secure):
        return (
            "the sign-in form expired, or your browser did not keep its cookie: the console's "
            "cookies are Secure, which browsers keep only over HTTPS (or on localhost); if you "
            "reach it over plain HTTP, serve the API behind HTTPS, or set "
            "TICKETS_API_INSECURE_COOKIES=1 on a network you trust"
        )
    return "the sign-in form expired; please sign in again"


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    current = signed_in(request)
    if current is not None and not current.csrf_ok(csrf):
        return page(request, "trouble.html", {"session": current, "message": "form expired"}, 403)
    response = to_sign_in()
    # Only a session the request carries is ended (a valid one, or one whose token is gone): a
    # cross-site POST carries none (SameSite=Strict) and passes no CSRF check, and its answer's
    # deleting cookie signed the reviewer out from any page, in browsers that send no
    # Sec-Fetch-Site (the middleware refuses those that do).
    secure = settings(request).secure_cookies
    if session.has_cookie(request, session.SESSION_COOKIE, secure):
        session.end(response, secure)
    return response
