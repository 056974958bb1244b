"""What every console page is made with: the templates (autoescaped), the signed-in reviewer,
and the console's own addresses (a sign-in goes on only to one of them)."""

import re
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from api.accounts import Role
from api.console import display, session
from api.deps import registry, settings
from policy.review_policy import REASON_LABELS
from policy.text_budget import ESTIMATE_NOTE, tokens_text
from shared.review import review_text_limits
from shared.tickets import TICKET_ID_PATTERN

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# autoescape=True for every template: customer text is shown as text, never as markup.
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
_env.globals.update(
    countdown=display.countdown,
    # UTC; page() passes the console's zone's in its place (every console page goes through it).
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


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    zone = request.app.state.settings.console_timezone
    return templates.TemplateResponse(
        request,
        name,
        # `moment` in the console's zone: a page's variable over the global of that name.
        {"now": datetime.now(UTC), "moment": partial(display.moment, zone=zone), **context},
        status_code=status,
    )


def signed_in(request: Request) -> session.Session | None:
    current = session.current(request, registry(request), settings(request).secure_cookies)
    if current is None or not current.account.may(Role.REVIEW):
        return None
    return current


def to_sign_in(then: str | None = None) -> RedirectResponse:
    """To the sign-in form; ``then``: the ticket's page to open once signed in (a link from a
    helpdesk or a bookmark arrives without the SameSite=Strict cookie, and signing in led to the
    queue, the ticket lost)."""
    back = console_page(then)
    where = f"/console/sign-in?then={quote(back, safe='')}" if back else "/console/sign-in"
    return RedirectResponse(where, status_code=303)


def console_page(path: str | None) -> str | None:
    """``path`` when it is a ticket's page in this console, else None: a sign-in goes on only
    to a page of ours (never another site: an open redirect)."""
    if not path or not path.startswith("/console/tickets/"):
        return None
    ticket_id = path.removeprefix("/console/tickets/")
    return f"/console/tickets/{quote(ticket_id)}" if valid_id(ticket_id) else None


def valid_id(ticket_id: str) -> bool:
    return re.fullmatch(TICKET_ID_PATTERN, ticket_id) is not None
