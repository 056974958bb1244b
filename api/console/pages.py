"""The console's pages and form posts (server-rendered, autoescaped; no build step)."""

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from temporalio.service import RPCError, RPCStatusCode

from api.accounts import Role
from api.console import display, session
from api.customer_message import InputUnreadable, customer_ticket
from api.deps import registry, settings, temporal
from api.errors import field_problem
from api.models import CustomerMessage, TicketStatus
from policy.review_policy import REASON_CODES, REASON_LABELS, ReasonCode
from policy.text_budget import ESTIMATE_NOTE, tokens_text
from policy.transitions import TicketState
from shared import review_operations
from shared import ticket_listing as listing
from shared.operation_errors import OperationError, ReviewRefused, ReviewTimeout, TicketNotFound
from shared.pending_calls import describe_call
from shared.review import ReviewAction, ReviewDecision, one_break, review_text_limits
from shared.ticket_status import read_ticket
from shared.tickets import TICKET_ID_PATTERN

router = APIRouter(prefix="/console", include_in_schema=False)

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# autoescape=True for every template: customer text is shown as text, never as markup.
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
_env.globals.update(
    countdown=display.countdown,
    moment=display.moment,
    usd=display.usd,
    span=display.span,
    tokens=tokens_text,
    reason_labels=REASON_LABELS,
    estimate_note=ESTIMATE_NOTE,
    # The review texts' limits (ReviewDecision's), said beside each box; the boxes have no
    # maxlength: a browser cuts a pasted text there without a word, and the cut text was sent.
    limits=SimpleNamespace(**review_text_limits()),
)
templates = Jinja2Templates(env=_env)

# The queue page reloads itself this often, so SLA countdowns and new tickets show up.
QUEUE_REFRESH_SECONDS = 20
QUEUE_LIMIT = 200
UNANSWERED_SHOWN = 10
# A review no worker answered in time (the API's 504) may still be applied when one does.
TIMED_OUT = (
    "no worker answered within the time allowed, so your review may still be applied: reload "
    "the page before sending it again"
)
DONE_MESSAGES = {
    ReviewAction.APPROVE: "approved: the answer is being delivered",
    ReviewAction.EDIT: "edited and approved: your text is being delivered",
    ReviewAction.REWORK: "sent back for rework: it returns to the queue with a new draft",
    ReviewAction.REJECT: "rejected: closed without an answer",
}


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(
        request, name, {"now": datetime.now(UTC), **context}, status_code=status
    )


def _signed_in(request: Request) -> session.Session | None:
    current = session.current(request, registry(request))
    if current is None or not current.account.may(Role.REVIEW):
        return None
    return current


def _to_sign_in() -> RedirectResponse:
    return RedirectResponse("/console/sign-in", status_code=303)


def _trouble(
    request: Request,
    current: session.Session,
    err: Exception,
    typed: dict[str, str | None] | None = None,
    refused: str | None = None,
    *,
    maybe_applied: bool = False,
) -> HTMLResponse:
    """The trouble page; ``typed``: what the reviewer wrote in a form that was not applied,
    shown for them to copy rather than lost; ``refused``: why it was not; ``maybe_applied``: no
    worker answered the review in time, so it may still be applied (a 504, not "not applied")."""
    status = 404 if isinstance(err, TicketNotFound) else 504 if maybe_applied else 503
    message = (
        _said(err) if refused is None else f"{refused}; the ticket cannot be shown: {_said(err)}"
    )
    kept = {k: v for k, v in (typed or {}).items() if v}
    context = {"session": current, "message": message, "typed": kept}
    return _page(request, "trouble.html", context | {"maybe_applied": maybe_applied}, status)


def _said(err: Exception) -> str:
    if isinstance(err, OperationError):
        return str(err)
    status = err.status if isinstance(err, RPCError) else None
    if status == RPCStatusCode.UNAVAILABLE:
        # "Temporal answered: tcp connect error" read as if it had answered.
        return f"the Temporal server cannot be reached now ({err}); try again once it is back"
    if status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return f"the Temporal server did not answer in time ({err}); try again"
    if status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return f"the Temporal server is busy ({err}); try again in a moment"
    return f"the Temporal server refused the request: {err}"


@router.get("")
async def console_home() -> RedirectResponse:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request, None, 200)


def _sign_in_page(
    request: Request,
    error: str | None,
    status: int,
    typed: dict[str, str] | None = None,
    then: str | None = None,
) -> Response:
    """``typed``: what a signed-out reviewer wrote in a review form, shown to copy, not lost;
    ``then``: the console page to go to once signed in (the ticket they were reviewing)."""
    value = session.sign_in_token(request)
    context = {
        "session": None,
        "error": error,
        "sign_in_csrf": value,
        "typed": typed or {},
        "then": _console_page(then),
    }
    response = _page(request, "sign_in.html", context, status)
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
        request, sign_in_csrf
    )
    if not csrf_ok:
        return _sign_in_page(request, _no_sign_in_cookie(request), 403, then=then)
    account = registry(request).find(token.strip()) if len(token) <= MAX_TOKEN_CHARS else None
    if account is None:
        return _sign_in_page(request, "this token is not known to the API", 401, then=then)
    if not account.may(Role.REVIEW):
        held = ", ".join(sorted(account.roles))
        return _sign_in_page(
            request, f"the token of {account.name} ({held}) may not review tickets", 403, then=then
        )
    response = RedirectResponse(_console_page(then) or "/console/queue", status_code=303)
    session.start(response, token.strip(), settings(request).secure_cookies)
    return response


def _no_sign_in_cookie(request: Request) -> str:
    """Why the sign-in form's cookie did not match: browsers keep a Secure cookie only over
    HTTPS or on localhost, so over plain HTTP elsewhere every attempt would say "expired"."""
    host = (request.url.hostname or "").lower()
    plain_http = request.url.scheme == "http" and host not in ("localhost", "127.0.0.1", "::1")
    if (
        settings(request).secure_cookies
        and plain_http
        and session.SIGN_IN_COOKIE not in (request.cookies)
    ):
        return (
            "the sign-in form expired, or your browser did not keep its cookie: the console's "
            "cookies are Secure, which browsers keep only over HTTPS (or on localhost); if you "
            "reach it over plain HTTP, serve the API behind HTTPS, or set "
            "TICKETS_API_INSECURE_COOKIES=1 on a network you trust"
        )
    return "the sign-in form expired; please sign in again"


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    current = _signed_in(request)
    if current is not None and not current.csrf_ok(csrf):
        return _page(request, "trouble.html", {"session": current, "message": "form expired"}, 403)
    response = _to_sign_in()
    session.end(response)
    return response


@router.get("/queue")
async def queue(
    request: Request,
    done: str | None = None,
    ticket: str | None = None,
    refresh: str = "",
    why: str = "",
) -> Response:
    current = _signed_in(request)
    if current is None:
        return _to_sign_in()
    try:
        client = await temporal(request).client()
        # ?why=<code>: only the tickets waiting for that reason; an unknown code shows them all.
        only = ReasonCode(why) if why in REASON_CODES else None
        read = await listing.review_queue(client, QUEUE_LIMIT, why=only)
        waiting = read.tickets  # in the queue's order already
        unanswered, _ = await listing.ticket_page(
            client, listing.ticket_query(TicketState.UNANSWERED), UNANSWERED_SHOWN
        )
    except (OperationError, RPCError) as err:
        return _trouble(request, current, err)
    notice = None
    if done in set(ReviewAction) and ticket and _valid_id(ticket):
        notice = f"Ticket {ticket} {DONE_MESSAGES[ReviewAction(done)]}."
    # ?refresh=off stops the reloads and ?refresh=on starts them again, both remembered in a
    # cookie for later visits (a decision's redirect back to the queue, the next morning).
    still = refresh == "off" or (refresh != "on" and session.queue_kept_still(request))
    response = _page(
        request,
        "queue.html",
        {
            "session": current,
            "tickets": waiting,
            "waiting": read.waiting,
            "unanswered": unanswered,
            "notice": notice,
            "refresh": 0 if still else QUEUE_REFRESH_SECONDS,
            "why": only,
        },
    )
    if refresh in ("off", "on"):
        session.keep_queue_still(response, still, settings(request).secure_cookies)
    return response


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: str) -> Response:
    current = _signed_in(request)
    if current is None:
        return _to_sign_in()
    return await _ticket(request, current, ticket_id, error=None, status=200)


async def _ticket(
    request: Request,
    current: session.Session,
    ticket_id: str,
    error: str | None,
    status: int,
    typed: dict[str, str | None] | None = None,
    *,
    maybe_applied: bool = False,
) -> Response:
    """The ticket's page; ``typed``: what the reviewer wrote in a form that was refused, shown
    again in its boxes rather than lost (``maybe_applied``: or not answered in time)."""
    if not _valid_id(ticket_id):
        shown = repr(ticket_id[:80]) + (
            f" ({len(ticket_id):,} characters)" if len(ticket_id) > 80 else ""
        )
        return _trouble(
            request,
            current,
            TicketNotFound(f"{shown} is not a ticket id"),
            typed,
            refused=error,
            maybe_applied=maybe_applied,
        )
    message: CustomerMessage | None = None
    message_problem: str | None = None
    try:
        client = await temporal(request).client()
        reading = await read_ticket(client, ticket_id)
        try:
            message = CustomerMessage.of(await customer_ticket(client, ticket_id))
        except InputUnreadable as err:
            message_problem = str(err)
    except (OperationError, RPCError) as err:
        return _trouble(request, current, err, typed, refused=error, maybe_applied=maybe_applied)
    return _page(
        request,
        "ticket.html",
        {
            "session": current,
            "view": TicketStatus.of(reading),
            "earlier_runs": reading.earlier_runs,
            "message": message,
            "message_problem": message_problem,
            "error": error,
            # Review forms only for a ticket that can take a review: one whose workflow was
            # stopped keeps AWAITING_REVIEW as its last recorded state.
            "waiting": reading.awaiting_review,
            "typed": {k: v for k, v in (typed or {}).items() if v},
            "maybe_applied": maybe_applied,
            # What a running ticket waits on: (text, trouble) per call, as `status` prints it.
            "calls": [describe_call(c) for c in reading.pending],
        },
        status,
    )


@router.post("/tickets/{ticket_id}/review")
async def review(
    request: Request,
    ticket_id: str,
    # No length limits on the form's fields either: a refusal here answers JSON and loses what
    # the reviewer typed. ReviewDecision and the session check them (the body limit bounds
    # them all); a tampered field gets the page back with the text.
    action: Annotated[str, Form()] = "",
    revision: Annotated[str, Form()] = "",
    chain: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    # No length limit here: a browser counts a line break as one character against the
    # textarea's maxlength and sends two (CRLF), and a refusal here would answer JSON and lose
    # what the reviewer typed. ReviewDecision checks the lengths once the breaks are one again,
    # and its refusal shows the page with the text (the body limit bounds the request).
    edited_text: Annotated[str | None, Form()] = None,
    notes: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
) -> Response:
    current = _signed_in(request)
    typed = {k: one_break(v) for k, v in (("edited_text", edited_text), ("notes", notes),
                                           ("reason", reason))}  # fmt: skip
    if current is None:
        # Signed out meanwhile (the session ended, or the reviewer signed out in another tab):
        # nothing was applied, and what they wrote is on the sign-in page to copy.
        kept = {k: v for k, v in typed.items() if v}
        if not kept or not _from_this_console(request):
            # Shown back only to the console's own form: a page elsewhere could post text of
            # its choosing ("paste your token at ...") to show beside the token field.
            return _to_sign_in()
        message = (
            f"you are signed out, so your review of ticket {ticket_id[:80]} was not sent: sign "
            "in and send it again (what you wrote is below)"
        )
        return _sign_in_page(request, message, 401, kept, then=f"/console/tickets/{ticket_id}")
    if not current.csrf_ok(csrf):
        return await _ticket(
            request, current, ticket_id, "the form expired; look again and resubmit", 403, typed
        )
    try:
        decision = ReviewDecision(
            action=action,
            reviewer=current.account.name,
            revision=int(revision) if revision.strip() else None,
            # The page showed no draft: refused if one has been written since.
            saw_no_draft=not revision.strip(),
            # The ticket the page showed: refused on another one under the same id.
            chain=chain.strip() or None,
            edited_text=typed["edited_text"] if action == ReviewAction.EDIT else None,
            notes=typed["notes"] if action == ReviewAction.REWORK else None,
            reason=typed["reason"] if action == ReviewAction.REJECT else None,
        )
    except (ValidationError, ValueError) as err:
        problems = (
            [field_problem(dict(e)) for e in err.errors()]
            if isinstance(err, ValidationError)
            else [f"revision {revision[:20]!r} is not a number"]
        )
        return await _ticket(request, current, ticket_id, "; ".join(problems), 422, typed)
    try:
        client = await temporal(request).client()
        await review_operations.submit_review(client, ticket_id, decision)
    except ReviewRefused as err:
        return await _ticket(request, current, ticket_id, str(err), 409, typed)
    except ReviewTimeout:
        return await _ticket(request, current, ticket_id, TIMED_OUT, 504, typed, maybe_applied=True)
    except (OperationError, RPCError) as err:
        # Temporal or the worker in trouble: the page again, with what the reviewer typed.
        return await _ticket(request, current, ticket_id, f"not sent: {_said(err)}", 503, typed)
    return RedirectResponse(
        f"/console/queue?done={decision.action.value}&ticket={quote(ticket_id)}", status_code=303
    )


def _from_this_console(request: Request) -> bool:
    """The browser says the form was posted from this origin (Sec-Fetch-Site, which browsers
    set and pages cannot); other sites' posts are refused before any route sees them."""
    return request.headers.get("sec-fetch-site", "").strip().lower() == "same-origin"


def _console_page(path: str | None) -> str | None:
    """``path`` when it is a ticket's page in this console, else None: a sign-in goes on only
    to a page of ours (never another site: an open redirect)."""
    if not path or not path.startswith("/console/tickets/"):
        return None
    ticket_id = path.removeprefix("/console/tickets/")
    return f"/console/tickets/{quote(ticket_id)}" if _valid_id(ticket_id) else None


def _valid_id(ticket_id: str) -> bool:
    return re.fullmatch(TICKET_ID_PATTERN, ticket_id) is not None
