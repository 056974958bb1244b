"""The console's trouble page (Temporal, the worker or a store in trouble; the account's reads
used up), which keeps what a reviewer typed for them to copy, and the checks it needs."""

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from temporalio.service import RPCError, RPCStatusCode

from api.console import session
from api.console.rendering import page
from api.deps import read_within
from api.errors import store_trouble
from shared.operation_errors import OperationError, TicketNotFound, TicketUnreadable
from shared.stores.errors import StoreUnavailable


def trouble_page(
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
    # As the API answers the same errors (a ticket that cannot be read here is 502 there).
    status = (
        404
        if isinstance(err, TicketNotFound)
        else 504
        if maybe_applied
        else 502
        if isinstance(err, TicketUnreadable)
        else 503
    )
    message = (
        what_went_wrong(err)
        if refused is None
        else f"{refused}; the ticket cannot be shown: {what_went_wrong(err)}"
    )
    kept = {k: v for k, v in (typed or {}).items() if v}
    context = {"session": current, "message": message, "typed": kept}
    unconfirmed = not from_this_console(request)
    context |= {"maybe_applied": maybe_applied, "typed_unconfirmed": unconfirmed}
    return page(request, "trouble.html", context, status)


def over_read_limit(
    request: Request, current: session.Session, typed: dict[str, str | None] | None = None
) -> HTMLResponse | None:
    """The trouble page with 429 when the account's reads are used up (the API's read
    allowance: a page left reloading in many tabs, or a script with a stolen cookie, reads the
    queue's 1,000 records each time); None when the page may be read. ``typed``: what a review
    form held, shown to copy."""
    try:
        read_within(request.app, current.account)
    except HTTPException as refused:
        kept = {k: v for k, v in (typed or {}).items() if v}
        context = {"session": current, "message": str(refused.detail), "typed": kept}
        context |= {"maybe_applied": False, "typed_unconfirmed": not from_this_console(request)}
        response = page(request, "trouble.html", context, 429)
        response.headers.update(refused.headers or {})
        return response
    return None


def what_went_wrong(err: Exception) -> str:
    if isinstance(err, OperationError):
        return str(err)
    if isinstance(err, StoreUnavailable):  # its host, never a password; or the file store busy
        return f"{store_trouble(err)} ({err}); try again shortly"
    status = err.status if isinstance(err, RPCError) else None
    if status == RPCStatusCode.UNAVAILABLE:
        # "Temporal answered: tcp connect error" read as if it had answered.
        return f"the Temporal server cannot be reached now ({err}); try again once it is back"
    if status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return f"the Temporal server did not answer in time ({err}); try again"
    if status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return f"the Temporal server is busy ({err}); try again in a moment"
    return f"the Temporal server refused the request: {err}"


def from_this_console(request: Request) -> bool:
    """The browser says the form was posted from this origin (Sec-Fetch-Site, which browsers
    set and pages cannot); other sites' posts are refused before any route sees them."""
    return request.headers.get("sec-fetch-site", "").strip().lower() == "same-origin"
