"""The console's pages and the review form (server-rendered, autoescaped; no build step). Signing
in and out: sign_in.py; the templates and the helpers every page uses: rendering.py."""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from temporalio.service import RPCError

from api.console import display, session
from api.console.rendering import page, signed_in, to_sign_in, valid_id
from api.console.sign_in import sign_in_page
from api.console.trouble import (
    from_this_console,
    over_read_limit,
    trouble_page,
    what_went_wrong,
)
from api.customer_message import InputUnreadable, customer_ticket
from api.deps import settings, temporal
from api.errors import field_problem
from api.models import CustomerMessage, TicketStatus
from policy.review_policy import REASON_CODES, ReasonCode
from policy.transitions import TicketState
from shared import review_operations
from shared import ticket_listing as listing
from shared.operation_errors import (
    OperationError,
    ReviewMaybeSent,
    ReviewRefused,
    ReviewTimeout,
    TicketNotFound,
)
from shared.pending_calls import describe_call
from shared.review import ReviewAction, ReviewDecision, one_break
from shared.stores.errors import StoreUnavailable
from shared.ticket_status import TicketReading, read_ticket

router = APIRouter(prefix="/console", include_in_schema=False)

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


@router.get("")
async def console_home() -> RedirectResponse:
    return RedirectResponse("/console/queue", status_code=303)


@router.get("/queue")
async def queue(
    request: Request,
    done: str | None = None,
    ticket: str | None = None,
    refresh: str = "",
    why: str = "",
) -> Response:
    current = signed_in(request)
    if current is None:
        return to_sign_in()
    if (refused := over_read_limit(request, current)) is not None:
        return refused
    try:
        client = await temporal(request).client()
        # ?why=<code>: only the tickets waiting for that reason; an unknown code shows them all.
        only = _reason(why)
        read = await listing.review_queue(client, QUEUE_LIMIT, why=only)
        waiting = read.tickets  # in the queue's order already
        unanswered_query = listing.ticket_query(TicketState.UNANSWERED)
        unanswered, _ = await listing.ticket_page(client, unanswered_query, UNANSWERED_SHOWN)
        # How many in all: the list stopped at UNANSWERED_SHOWN and did not say so (a review,
        # 2026-12-07: 35 closed unanswered read as the 10 shown).
        unanswered_count = (await client.count_workflows(unanswered_query)).count
    except (OperationError, RPCError, StoreUnavailable) as err:
        return trouble_page(request, current, err)
    notice = None
    if done in set(ReviewAction) and ticket and valid_id(ticket):
        notice = f"Ticket {ticket} {DONE_MESSAGES[ReviewAction(done)]}."
    # ?refresh=off stops the reloads and ?refresh=on starts them again, both remembered in a
    # cookie for later visits (a decision's redirect back to the queue, the next morning).
    secure = settings(request).secure_cookies
    still = refresh == "off" or (refresh != "on" and session.queue_kept_still(request, secure))
    response = page(
        request,
        "queue.html",
        {
            "session": current,
            "tickets": waiting,
            "waiting": read.waiting,
            "unanswered": unanswered,
            "unanswered_count": unanswered_count,
            "notice": notice,
            "refresh": 0 if still else QUEUE_REFRESH_SECONDS,
            "why": only,
        },
    )
    if refresh in ("off", "on"):
        session.keep_queue_still(response, still, secure)
    return response


def _reason(why: str) -> ReasonCode | None:
    """A queue filter's reason code, or None for none or an unknown one."""
    return ReasonCode(why) if why in REASON_CODES else None


@router.get("/tickets/{ticket_id}")
async def ticket_page(request: Request, ticket_id: str, why: str = "") -> Response:
    current = signed_in(request)
    if current is None:
        return to_sign_in(f"/console/tickets/{ticket_id}")
    if (refused := over_read_limit(request, current)) is not None:
        return refused
    return await _ticket(request, current, ticket_id, error=None, status=200, why=_reason(why))


@dataclass(frozen=True)
class ReviewedAs:
    """What a review form was written for: the hidden fields it posted, as posted."""

    revision: str
    chain: str
    waiting_since: str

    def changed_note(self, reading: TicketReading) -> str:
        """Said after a refusal when the ticket no longer shows what the form was written for
        (another reviewer's rework came back meanwhile): the forms are bound to the ticket as it
        is now, so the reviewer reads the new draft before sending the same text again."""
        if not reading.awaiting_review:
            # Closed or moved on by a colleague's decision: the page shows no forms, and the
            # refusal says why; "the draft changed" to the same revision contradicted itself.
            return ""
        view = reading.view
        now = str(view.draft.revision) if view.draft else ""
        began = view.review_wait_began()
        same = (
            self.revision.strip() == now
            and self.chain.strip() == (view.chain or "")
            and self.waiting_since.strip() == (began.isoformat() if began else "")
        )
        if same:
            return ""
        again = ". Read it before you send your review again (what you wrote is below)"
        if self.revision.strip() != now:
            was = f"revision {self.revision.strip()[:20]}" if self.revision.strip() else "no draft"
            shown = f"revision {now}" if now else "no draft"
            return (
                f". The draft changed while you wrote: your review was of {was}, the ticket now "
                f"shows {shown}" + again
            )
        # The same revision number, but not the same wait: said as what happened, since "the
        # draft changed" from revision 1 to revision 1 contradicted itself (a review, 2026-12-07).
        if self.chain.strip() != (view.chain or ""):
            return (
                ". The ticket was submitted again under its id while you wrote: the review waits "
                "for a new run of it, whose draft may not be the one you read" + again
            )
        return (
            ". The ticket went back for rework and waits for review again since you opened the "
            "page (its log says why): the draft has the same revision number" + again
        )


async def _ticket(
    request: Request,
    current: session.Session,
    ticket_id: str,
    error: str | None,
    status: int,
    typed: dict[str, str | None] | None = None,
    *,
    maybe_applied: bool = False,
    why: ReasonCode | None = None,
    posted: ReviewedAs | None = None,
    typed_in_forms: bool = True,
) -> Response:
    """The ticket's page; ``typed``: what the reviewer wrote in a form that was refused, shown
    again in its boxes rather than lost (``maybe_applied``: or not answered in time); ``why``:
    the queue's filter the reviewer came from, which the page's links and forms keep;
    ``typed_in_forms`` False: ``typed`` is shown apart, not in the forms;
    ``posted``: the draft and wait the refused form was written for (the forms shown again are
    for the ticket as it is now, so the page says so when the draft changed meanwhile)."""
    if not valid_id(ticket_id):
        shown = repr(ticket_id[:80]) + (
            f" ({len(ticket_id):,} characters)" if len(ticket_id) > 80 else ""
        )
        return trouble_page(
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
            message = CustomerMessage.of(await customer_ticket(client, ticket_id, reading.run_id))
        except InputUnreadable as err:
            message_problem = str(err)
    except (OperationError, RPCError, StoreUnavailable) as err:
        return trouble_page(
            request, current, err, typed, refused=error, maybe_applied=maybe_applied
        )
    if posted is not None and error is not None and any((typed or {}).values()):
        error += posted.changed_note(reading)
    return page(
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
            "typed_in_forms": typed_in_forms,
            "typed_unconfirmed": not from_this_console(request),
            "maybe_applied": maybe_applied,
            # What a running ticket waits on: (text, trouble) per call, as `status` prints it.
            "calls": [
                describe_call(c, display.said_at(settings(request).console_timezone))
                for c in reading.pending
            ],
            "why": why,
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
    waiting_since: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    # No length limit here: a browser counts a line break as one character against the
    # textarea's maxlength and sends two (CRLF), and a refusal here would answer JSON and lose
    # what the reviewer typed. ReviewDecision checks the lengths once the breaks are one again,
    # and its refusal shows the page with the text (the body limit bounds the request).
    edited_text: Annotated[str | None, Form()] = None,
    notes: Annotated[str | None, Form()] = None,
    reason: Annotated[str | None, Form()] = None,
    why: Annotated[str, Form()] = "",
) -> Response:
    current = signed_in(request)
    kept = _reason(why)  # the queue's filter, kept on the page again and after the decision
    typed = {k: one_break(v) for k, v in (("edited_text", edited_text), ("notes", notes),
                                           ("reason", reason))}  # fmt: skip
    if current is None:
        # Signed out meanwhile (the session ended, or the reviewer signed out in another tab):
        # nothing was applied, and what they wrote is on the sign-in page to copy.
        kept = {k: v for k, v in typed.items() if v}
        if not kept or not from_this_console(request):
            # Shown back only to the console's own form: a page elsewhere could post text of
            # its choosing ("paste your token at ...") to show beside the token field.
            return to_sign_in()
        # Said to copy first: signing in opens the ticket's page with its draft, not with
        # this text (a review, 2026-12-07: it said only that the text was below).
        message = (
            f"you are signed out, so your review of ticket {ticket_id[:80]} was not sent: copy "
            "what you wrote (below) before you sign in, then send it again from the ticket's "
            "page, which opens with the draft, not with your text"
        )
        return sign_in_page(request, message, 401, kept, then=f"/console/tickets/{ticket_id}")
    # A review reads the ticket (and a refused one shows its page again): from the same
    # allowance as the pages, or a stolen cookie looped on refused reviews, uncounted.
    if (refused := over_read_limit(request, current, typed)) is not None:
        return refused
    if not valid_id(ticket_id):
        # The page that says so, with what was typed; nothing is sent to Temporal (the API's
        # route refuses such an id by its path pattern).
        return await _ticket(request, current, ticket_id, None, 404, typed, why=kept)
    # What the form was written for: a refusal below shows the page for the ticket as it is
    # now, and says so when that is another draft.
    posted = ReviewedAs(revision, chain, waiting_since)
    if not current.csrf_ok(csrf):
        expired = "the form expired; look again and resubmit"
        # Its text goes back into the forms (with a fresh token) only when this console's page
        # posted it: a page elsewhere, in a browser that does not say where a post comes from,
        # could otherwise plant a reply one click from being sent.
        return await _ticket(
            request,
            current,
            ticket_id,
            expired,
            403,
            typed,
            why=kept,
            posted=posted,
            typed_in_forms=from_this_console(request),
        )
    try:
        seen = _wait_seen(waiting_since)
    except ValueError as err:  # a tampered form: the page again, with what was typed
        said = f"{err}; look again and resubmit"
        return await _ticket(request, current, ticket_id, said, 422, typed, why=kept)
    try:
        decision = ReviewDecision(
            action=action,
            reviewer=current.account.name,
            revision=int(revision) if revision.strip() else None,
            # The page showed no draft: refused if one has been written since.
            saw_no_draft=not revision.strip(),
            # The ticket the page showed: refused on another one under the same id.
            chain=chain.strip() or None,
            # The wait the page showed: refused in a later one (a failed rework came back).
            waiting_since=seen,
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
        said = "; ".join(problems)
        return await _ticket(request, current, ticket_id, said, 422, typed, why=kept, posted=posted)
    try:
        client = await temporal(request).client()
        await review_operations.submit_review(client, ticket_id, decision)
    except ReviewRefused as err:
        # "not awaiting review" may be read back as waiting again on a newer draft (another
        # reviewer's rework came back): the note says so, or the old text went against it.
        return await _ticket(
            request, current, ticket_id, str(err), 409, typed, why=kept, posted=posted
        )
    except ReviewTimeout as err:
        # The reviewer's own rework may come back before the page is read: a newer draft. (No
        # worker's answer in time, or the connection failed while sending: its own words.)
        return await _ticket(
            request,
            current,
            ticket_id,
            str(err) if isinstance(err, ReviewMaybeSent) else TIMED_OUT,
            504,
            typed,
            maybe_applied=True,
            why=kept,
            posted=posted,
        )
    except (OperationError, RPCError, StoreUnavailable) as err:
        # Temporal or the worker in trouble: the page again, with what the reviewer typed.
        said = f"not sent: {what_went_wrong(err)}"
        return await _ticket(request, current, ticket_id, said, 503, typed, why=kept, posted=posted)
    back = f"/console/queue?done={decision.action.value}&ticket={quote(ticket_id)}"
    return RedirectResponse(back + (f"&why={kept.value}" if kept else ""), status_code=303)


def _wait_seen(value: str) -> datetime | None:
    """The form's ``waiting_since`` (None when empty); ValueError when it is not a time with
    its zone."""
    if not value.strip():
        return None
    try:
        seen = datetime.fromisoformat(value.strip())
    except ValueError:
        seen = None
    if seen is None or seen.tzinfo is None:
        raise ValueError("the form's wait for review is not a time with its zone")
    return seen
