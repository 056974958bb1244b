"""Intake: tickets from helpdesks, web forms and e-mail gateways.

Each item is checked like a line of a JSON Lines file (shared.ticket_input): the invalid ones are
refused with what is wrong, field by field, and the valid ones go through in the same request.
"""

import asyncio
import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response
from temporalio.client import Client
from temporalio.service import RPCError

from api.accounts import Account, Role
from api.deps import client as temporal_client
from api.deps import intake_allowed, settings
from api.errors import ApiError, answers_final, for_caller, responses
from api.inbound_email import email_fields, key_of_message, sender_problem
from api.json_body import OnceEachJSONRoute
from api.models import InboundEmail, IntakeAccepted, IntakeRefused, IntakeResponse
from shared import operations as ops
from shared.ticket_input import capped, given, ticket_from_mapping
from shared.tickets import (
    Ticket,
)
from shared.validation import RepeatedNames

router = APIRouter(tags=["intake"], route_class=OnceEachJSONRoute)

# Longest Idempotency-Key accepted (Stripe's limit; keys are usually UUIDs).
MAX_IDEMPOTENCY_KEY = 255
INTAKE_ERRORS = responses(400, 401, 403, 409, 413, 415, 422, 429, 503)
# Problems one answer names, over all its items (each item names 10 at most: ticket_input), so
# that a list of 100 bad items cannot make an answer of megabytes.
MAX_PROBLEMS_PER_RESPONSE = 100
UNNAMED = (
    f"refused; its problems are not named here (an answer names {MAX_PROBLEMS_PER_RESPONSE} "
    "at most)"
)

ONE_TICKET = {
    "summary": "one ticket",
    "value": {
        "subject": "Cannot reset my password",
        "body": "The reset e-mail never arrives.",
        "customer_id": "cus_123",
        "tier": "premium",
        "channel": "web",
    },
}
SEVERAL = {
    "summary": "several tickets (each is checked on its own)",
    "value": [
        {"id": "HD-1001", "subject": "Refund", "body": "I was charged twice."},
        {"subject": "No body"},
    ],
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        description="on a single ticket: the same key (from the same token) always means the "
        "same ticket, so a retried request returns the ticket the first one created",
    ),
]


def one_key_header(request: Request) -> None:
    """Refuses a request with more than one Idempotency-Key header (400): the first was taken
    without a word, where a query parameter given twice is refused."""
    if len(request.headers.getlist("idempotency-key")) > 1:
        raise HTTPException(400, "Idempotency-Key is given more than once; give it once")


# Ids the API makes from idempotency keys start with this; a client may not send one as its own
# id (it could take the ticket a key names before that ticket arrives).
KEYED_ID_PREFIX = "K-"


def idempotent_ticket_id(account: Account, key: str, sender: str | None = None) -> str:
    """A ticket id from the caller's key, scoped to the account (two systems may pick the same
    key for different tickets) and, for an e-mail, to its sender: a Message-ID is seen by
    everyone on the thread, and a stranger's mail under it must not take the sender's ticket."""
    parts = [account.name, key] + ([f"from:{sender.strip().lower()}"] if sender else [])
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    return f"{KEYED_ID_PREFIX}{digest[:20]}"


def reserved_id_problem(item: object, id_prefix: str | None = None) -> str | None:
    """Why an item's own id cannot be taken: it looks like an id made from an idempotency key,
    or the token may only give ids starting with ``id_prefix`` (its tokens file entry) and this
    one does not; or why the item cannot be read at all: it names a field twice
    (api/json_body.py marks it)."""
    if isinstance(item, RepeatedNames):
        # As repr, as every quoted name: a lone surrogate ("\\ud800" in the JSON) cannot be
        # encoded, and the answer failed (500) after the item's valid neighbours had started.
        return f"{item.repeated[:40]!r} is given twice in this item; give each field once"
    if not isinstance(item, dict):
        return None
    for field in ("id", "ticket_id"):
        value = item.get(field)
        if isinstance(value, str) and value.strip().startswith(KEYED_ID_PREFIX):
            return (
                f"'{field}': ids starting with {KEYED_ID_PREFIX} are made from idempotency keys; "
                "send the key in the Idempotency-Key header instead, or give another id"
            )
        # An id of digits may come as a number (ticket_input.NUMBERED); other kinds are refused
        # by the ticket's own checks, which name them.
        as_text = value.strip() if isinstance(value, str) else value
        if isinstance(value, int) and not isinstance(value, bool):
            as_text = str(value)
        if (
            id_prefix is not None
            and isinstance(as_text, str)
            and given("ticket_id", value)
            and not as_text.startswith(id_prefix)
        ):
            return (
                f"'{field}': this token gives tickets ids starting with {id_prefix} only (its "
                "id_prefix in the tokens file); give one that does, or none (an id is then "
                "made from the content)"
            )
    return None


@router.post(
    "/tickets",
    status_code=202,
    response_model=IntakeResponse,
    responses=INTAKE_ERRORS,
    summary="submit one ticket or a list of tickets",
    description=(
        "Fields: `subject` and `body` (required), `id`, `customer_id`, `tier` (free, standard, "
        "premium, enterprise), `channel` (email, chat, web, phone, api). Without an id the id is "
        "derived from the content, so the same ticket submitted twice is recognised. 202 when at "
        "least one ticket was accepted (invalid items are listed under `refused`); 422 when none "
        "was valid; 409 when the valid ones all carry ids earlier tickets hold with other "
        "content. Needs the `submit` role; rate-limited per token."
    ),
)
async def submit_tickets(
    request: Request,
    response: Response,
    account: Annotated[Account, Depends(intake_allowed)],
    payload: Annotated[
        dict[str, Any] | list[Any],
        Body(openapi_examples={"one": ONE_TICKET, "several": SEVERAL}),  # type: ignore[arg-type]
    ],
    idempotency_key: IdempotencyKey = None,
) -> IntakeResponse:
    one_key_header(request)
    items = [payload] if isinstance(payload, dict) else payload
    limit = settings(request).max_tickets_per_request
    if not items:
        raise HTTPException(422, "the list holds no tickets")
    if len(items) > limit:
        raise HTTPException(
            422, f"{len(items)} tickets in one request; the limit is {limit} (split the list)"
        )
    # Before the key's id is put in: a client's own K- id is refused, the server's is not.
    found = ((i, reserved_id_problem(item, account.id_prefix)) for i, item in enumerate(items))
    reserved = {i: problem for i, problem in found if problem}
    if idempotency_key is not None:
        if not isinstance(payload, dict):
            raise HTTPException(
                422, "Idempotency-Key applies to a single ticket; give each ticket of a list an id"
            )
        # A blank id is no id (ticket_input.BLANK_IS_NOT_GIVEN): a form's empty id column.
        if any(given("ticket_id", payload.get(field)) for field in ("id", "ticket_id")):
            raise HTTPException(422, "give either an id or an Idempotency-Key, not both")
        items = [{**payload, "id": idempotent_ticket_id(account, idempotency_key)}]
    tickets, refused = _check(items, reserved)
    result = await _submit(request, tickets, refused, keyed=idempotency_key is not None)
    if len(result.accepted) == 1 and isinstance(payload, dict):
        response.headers["Location"] = f"/tickets/{result.accepted[0].ticket_id}"
    return result


@router.post(
    "/tickets/email",
    status_code=202,
    response_model=IntakeResponse,
    responses=INTAKE_ERRORS,
    summary="one ticket from an e-mail gateway or helpdesk webhook",
    description=(
        'Minimal JSON: `{"from": "ana@example.com", "subject": "...", "text": "...", '
        '"message_id": "<...>"}` (`html` too: its words are the body of a message with no '
        "text); other fields are ignored. The sender's address (`from` "
        "may be `Ana <ana@example.com>`) becomes the customer id and the address an answer by "
        "e-mail goes to; the channel is "
        "email; the same message_id (or, without one, Idempotency-Key) is the same ticket."
    ),
)
async def submit_email(
    request: Request,
    account: Annotated[Account, Depends(intake_allowed)],
    email: InboundEmail,
    idempotency_key: IdempotencyKey = None,
) -> IntakeResponse:
    if (problem := sender_problem(email.sender)) is not None:
        said = f"field 'from' {problem}"
        raise ApiError(422, f"the e-mail cannot become a ticket: {said}", [said])
    one_key_header(request)
    # The message's own Message-ID first: a gateway or retry layer that puts a new
    # Idempotency-Key on each delivery made one message two tickets. Stripped: a gateway that
    # redelivers " <a@x>" means "<a@x>", and one sending " " has none (as a blank key it would
    # merge every such e-mail into one ticket).
    key = key_of_message(email.message_id) or (idempotency_key or "").strip() or None
    # In a thread: a long text's quoted thread is looked for line by line (tenths of a
    # second for a megabyte), which would hold every other request on the event loop.
    fields = await asyncio.to_thread(email_fields, email)
    if key:
        fields["id"] = idempotent_ticket_id(account, key, sender=fields["customer_id"])
    ticket, problems = ticket_from_mapping(fields)
    keyed = key is not None
    if ticket is None:
        # Name the fields as the gateway sent them.
        renamed = [
            p.replace("'body'", "'text'").replace("'customer_id'", "'from'") for p in problems
        ]
        raise ApiError(422, "the e-mail cannot become a ticket: " + "; ".join(renamed), renamed)
    return await _submit(request, [(0, ticket)], [], keyed=keyed)


def _check(
    items: list[Any], reserved: dict[int, str] | None = None
) -> tuple[list[tuple[int, Ticket]], list[IntakeRefused]]:
    """The valid tickets and the items refused, each with its problems; ``reserved``: items
    whose own id is refused (by index, with the problem)."""
    tickets: list[tuple[int, Ticket]] = []
    refused: list[IntakeRefused] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        if reserved and index in reserved:
            refused.append(IntakeRefused(index=index, problems=[reserved[index]]))
            continue
        if not isinstance(item, dict):
            refused.append(
                IntakeRefused(index=index, problems=[f"expected a JSON object, got {_kind(item)}"])
            )
            continue
        ticket, problems = ticket_from_mapping(item)
        if ticket is None:
            refused.append(IntakeRefused(index=index, problems=problems))
        elif (first := seen.get(ticket.ticket_id)) is not None:
            # Named as the item gave it: an item without an id got one from its content.
            given = next((k for k in ("id", "ticket_id") if item.get(k) is not None), None)
            problem = (
                f"field '{given}': ticket {ticket.ticket_id} already appears at index {first}"
                if given
                else f"the same ticket ({ticket.ticket_id}, by its customer, subject and body) "
                f"already appears at index {first}"
            )
            refused.append(IntakeRefused(index=index, problems=[problem]))
        else:
            seen[ticket.ticket_id] = index
            tickets.append((index, ticket))
    return tickets, refused


async def _submit(
    request: Request,
    tickets: list[tuple[int, Ticket]],
    refused: list[IntakeRefused],
    keyed: bool = False,
) -> IntakeResponse:
    """``keyed``: the id comes from an Idempotency-Key (or a Message-ID), which names the ticket
    whatever a retry's words: another content under it is the same ticket, not a collision."""
    refused = _bounded(refused)
    if not tickets:
        problems = capped(
            [f"item {r.index}: {p}" for r in refused for p in r.problems], MAX_PROBLEMS_PER_RESPONSE
        )
        raise ApiError(422, "no ticket could be accepted: " + "; ".join(problems[:3]), problems)
    client: Client = await temporal_client(request)
    outcomes = await ops.submit_each(client, [t for _, t in tickets], keyed=keyed)
    failed = [o for o in outcomes if isinstance(o, Exception)]
    taken = [o for o in outcomes if isinstance(o, ops.SubmitOutcome) and (keyed or not o.conflict)]
    if failed and not taken:
        # Nothing taken, and a start failed: its own status (503, ...), which a client retries;
        # a 409 for the ids that collide beside it was taken as final. Of several, one a client
        # retries (a first item's 400 hid a second's 503, and the client gave up on both).
        raise next((f for f in failed if not answers_final(f)), failed[0])
    accepted, not_taken = [], []
    account = getattr(request.state, "account", None)
    may_read = account is not None and account.may(Role.READ)
    for (index, _), outcome in zip(tickets, outcomes, strict=True):
        if isinstance(outcome, Exception):
            # The others went ahead: the whole request answered this one's error, and a client
            # that took a 400 for final never learnt the ids it had submitted.
            not_taken.append(IntakeRefused(index=index, problems=[_not_started(request, outcome)]))
        elif outcome.conflict and not keyed:
            not_taken.append(IntakeRefused(index=index, problems=[collision(outcome.ticket_id)]))
        else:
            accepted.append(IntakeAccepted.of(index, outcome, may_read=may_read))
    if not accepted:
        problems = capped(
            [f"item {r.index}: {p}" for r in [*refused, *not_taken] for p in r.problems],
            MAX_PROBLEMS_PER_RESPONSE,
        )
        raise ApiError(409, "no ticket could be accepted: " + "; ".join(problems[:3]), problems)
    return IntakeResponse(accepted=accepted, refused=sorted([*refused, *not_taken], key=_index))


def _bounded(refused: list[IntakeRefused]) -> list[IntakeRefused]:
    """Every refused item, with MAX_PROBLEMS_PER_RESPONSE problems named at most over all of
    them: an item past that says so instead of naming its own."""
    left = MAX_PROBLEMS_PER_RESPONSE
    bounded = []
    for refusal in refused:
        problems = refusal.problems
        if len(problems) > left:
            problems = capped(problems, left) if left >= 2 else [UNNAMED]
        left = max(left - len(problems), 0)
        bounded.append(IntakeRefused(index=refusal.index, problems=problems))
    return bounded


def _not_started(request: Request, err: Exception) -> str:
    """An item whose start alone failed, in words for this caller (an intake-only token gets
    no server's words: for_caller)."""
    said = f"the Temporal server answered: {err.message}" if isinstance(err, RPCError) else err
    return for_caller(
        request,
        f"not started: {said}; submit it again",
        "not started: the ticket service could not take it now; submit it again",
    )


def collision(ticket_id: str) -> str:
    return (
        f"id: ticket {ticket_id} already exists with another subject, body or customer (two "
        "tickets' ids collide; this one was not submitted: give it an id of its own)"
    )


def _index(refusal: IntakeRefused) -> int:
    return refusal.index


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )
