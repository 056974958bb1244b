"""The batch workflow's input, read inside the workflow (deterministic: data only): each
ticket, or why it is not one, and what starting it puts in a workflow task's commands."""

import json
import re
from typing import Any

from shared.command_budget import encoded_size, utf8_size
from shared.tickets import TICKET_ID_PATTERN, Ticket
from workflows.ticket_request import TICKET_FIELDS as FROZEN_TICKET_FIELDS
from workflows.ticket_request import parse_lenient


def ticket_bytes(ticket: Ticket | str, *, encoded: bool = False) -> int:
    """What starting ``ticket`` puts in one workflow task's commands (nothing for a reason);
    ``encoded``: as the JSON it travels in (control characters escaped)."""
    if isinstance(ticket, str):
        return 0
    size = encoded_size if encoded else utf8_size
    return size(ticket.subject, ticket.subject, ticket.body)


def start_bytes(ticket: Ticket | str, raw: Any = None, *, encoded: bool = False) -> int:
    """``ticket_bytes``; for a ticket started with its input whole (``raw``: fields this version
    does not know included, unknown-fields-left-out), that input's JSON in place of the subject
    and body it counts: an unknown field of 90 KB in 60 tickets went past the server's 4 MB
    message limit while only their subjects and bodies were counted."""
    if raw is None or isinstance(ticket, str):
        return ticket_bytes(ticket, encoded=encoded)
    size = encoded_size if encoded else utf8_size
    # JSON escapes control characters either way: its UTF-8 length is what travels.
    return size(ticket.subject, ticket.subject) + len(
        json.dumps(raw, ensure_ascii=False, default=str).encode()
    )


class BatchTicket:
    """One ticket of the batch's input as read: ``strict`` is the ticket or the reason it is
    not one as a version that refused unknown fields read it; ``lenient`` the same with such
    fields left out (``unknown_fields`` names them) when they were its only problem."""

    def __init__(self, raw: Any, place: int) -> None:
        read = parse_lenient(Ticket, raw)
        self.raw = raw
        self.unknown_fields = read.unknown_fields
        problem = read.strict_problem or read.problem
        self.strict: Ticket | str = (
            _reason(raw, place, problem) if problem is not None else read.request
        )
        self.lenient: Ticket | str = (
            read.request if read.request is not None else _reason(raw, place, read.problem)
        )


def _reason(raw: Any, place: int, problem: str | None) -> str:
    """Why the ticket at ``place`` is not one, naming its place, its id and the fields."""
    given = raw.get("ticket_id") if isinstance(raw, dict) else None
    # Named only when it is a ticket id: an invalid one may be anything (an e-mail address,
    # the subject), and the reason is logged and shown.
    valid_id = isinstance(given, str) and re.fullmatch(TICKET_ID_PATTERN, given) is not None
    named = f" ({given})" if valid_id else ""
    return f"ticket {place + 1}{named}: {problem}"


# A ticket's fields when the rule that leaves unknown ones out (patch unknown-fields-left-out)
# was decided, frozen (as workflows/ticket_request.py TICKET_FIELDS, the same set): whether a
# run asks must not depend on the model of the worker that replays it. From the live model, an
# older worker asked (and recorded the marker) for a newer starter's field that a newer worker,
# knowing it, did not ask for on replay: non-determinism on the very deploy the patch is for.
# The model has no aliases and nothing nested.
ASKING_FIELDS = FROZEN_TICKET_FIELDS


class BatchReads:
    """The batch's input, each ticket read (validated) when a run first needs it: its group's
    start (whether any ticket left has a key that is not a ticket's reads none). Every ticket was
    validated at each run's start, and each run of a batch of 100,000 tickets re-read them all:
    on two busy cores that passed the SDK's 2 s deadlock limit, and the batch never started.
    Reading is pure (the same input reads the same), so when it happens changes no command."""

    def __init__(self, raws: list[Any]) -> None:
        self._raws = raws
        self._read: dict[int, BatchTicket] = {}

    def __len__(self) -> int:
        return len(self._raws)

    def __getitem__(self, place: int) -> BatchTicket:
        read = self._read.get(place)
        if read is None:
            read = self._read[place] = BatchTicket(self._raws[place], place)
        return read

    def any_other_keys(self, start: int) -> bool:
        """Whether any ticket from ``start`` on has a key that is not a ticket's field: then the
        run asks whether to leave unknown fields out. No ticket is read (validated) for it:
        reading up to the first one that was otherwise valid read every ticket of an input of
        100,000 invalid ones with an extra key, 2.4 s at each run's start against the SDK's 2 s
        deadlock limit, and the batch never started. Asking for an input whose only such
        tickets are invalid changes nothing but the marker in its history: an invalid ticket's
        reason reads the same either way."""
        return any(_other_keys(raw) for raw in self._raws[start:])

    def ids_from(self, start: int) -> set[str]:
        """The ticket ids the input gives from ``start`` on, as given (a valid ticket's id is
        its text as given: the model does not change it)."""
        return {
            raw["ticket_id"]
            for raw in self._raws[start:]
            if isinstance(raw, dict) and isinstance(raw.get("ticket_id"), str)
        }


def _other_keys(raw: Any) -> bool:
    return isinstance(raw, dict) and not raw.keys() <= ASKING_FIELDS
