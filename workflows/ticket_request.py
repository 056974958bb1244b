"""The ticket workflow's input, read inside the workflow (deterministic: data only).

A ticket started outside the CLI with a bad input (the Web UI, another program) fails once,
visibly, with the field named, instead of failing its workflow task over and over. A field this
version does not know is not bad input: a newer starter or API (during a rolling deploy, before
this worker is replaced, or after a rollback) sends what its own workers read. The field is left
out and named (the view's ignored_input_fields, `status`, the worker's log: names, never values;
asked behind a patch in workflows/ticket.py); intake (`shared/ticket_input.py`) still refuses
unknown fields from people, where they are typos."""

import copy
from collections.abc import Sequence
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from shared.validation import MAX_NAME_CHARS, problems
from shared.view import MAX_BATCH_ID_BYTES, TicketRequest

# The input's fields when the rule that leaves unknown ones out (patch
# ignore-unknown-input-fields) was last decided, frozen: whether a run asks that patch must not
# depend on the model of the worker that replays it. Asked for fields the live model did not
# know, an older worker recorded the marker for a newer starter's field, and a newer worker,
# which knows the field, did not ask on replay: non-determinism on exactly the rolling deploy
# the patch is for (and the other way round after a rollback). Never remove a name here; a new
# field of the input is beyond these, and asks (answered the same by every version).
REQUEST_FIELDS: Final = frozenset({"ticket", "batch_id"})
TICKET_FIELDS: Final = frozenset(
    {"ticket_id", "subject", "body", "customer_id", "customer_tier", "channel", "customer_email"}
)


def beyond_frozen_fields(raw: Any) -> bool:
    """Whether the input has a field beyond REQUEST_FIELDS and TICKET_FIELDS."""
    if not isinstance(raw, dict):
        return False
    ticket = raw.get("ticket")
    return not raw.keys() <= REQUEST_FIELDS or (
        isinstance(ticket, dict) and not ticket.keys() <= TICKET_FIELDS
    )


class ParsedRequest:
    def __init__(
        self,
        request: Any,
        problem: str | None = None,
        unknown_fields: Sequence[str] = (),
        strict_problem: str | None = None,
        asks_to_leave_out: bool = False,
    ) -> None:
        self.request = request  # the model, or None when the input is not one
        self.problem = problem  # why the input is not one (None: it is)
        self.unknown_fields = list(unknown_fields)  # dotted paths left out
        # What a version that refused unknown fields said (for a history it recorded).
        self.strict_problem = strict_problem
        # Whether the run asks the patch that leaves unknown fields out (REQUEST_FIELDS).
        self.asks_to_leave_out = asks_to_leave_out


def parse_lenient(model: type[BaseModel], raw: Any) -> ParsedRequest:
    """``raw`` as ``model``, leaving out (and naming) fields the model does not know when they
    are the input's only problem."""
    try:
        return ParsedRequest(model.model_validate(raw))
    except ValidationError as err:
        strict = problems(err)
        unknown = [e["loc"] for e in err.errors() if e["type"] == "extra_forbidden"]
        if not unknown or len(unknown) != err.error_count() or not isinstance(raw, dict):
            return ParsedRequest(None, strict)
        try:
            request = model.model_validate(_without(raw, unknown))
        except ValidationError as again:
            return ParsedRequest(None, problems(again))
        # Each name cut as problems() cuts it: the sender's text, carried and shown.
        paths = [".".join(str(part)[:MAX_NAME_CHARS] for part in loc) for loc in unknown]
        return ParsedRequest(request, unknown_fields=paths, strict_problem=strict)


def parse_request(raw: Any) -> ParsedRequest:
    """The ticket workflow's input (a TicketRequest)."""
    parsed = parse_lenient(TicketRequest, raw)
    # Every field the live model does not know is beyond the frozen ones (they were the model's
    # when frozen, and a field is never removed), so whatever it leaves out was asked for.
    parsed.asks_to_leave_out = parsed.request is not None and beyond_frozen_fields(raw)
    return parsed


def raw_batch_id(raw: Any) -> str | None:
    """The batch a ticket's input names, read from an input that is not a valid request: the
    ticket still tells its batch that it failed (a batch's window holds a place for it)."""
    batch_id = raw.get("batch_id") if isinstance(raw, dict) else None
    if (
        isinstance(batch_id, str)
        and 0 < len(batch_id.encode(errors="replace")) <= MAX_BATCH_ID_BYTES
    ):
        return batch_id
    return None


def _without(raw: dict[str, Any], locations: Sequence[tuple[int | str, ...]]) -> dict[str, Any]:
    """``raw`` without the values at ``locations`` (pydantic's paths of unknown fields)."""
    cleaned = copy.deepcopy(raw)
    for location in locations:
        *parents, last = location
        holder: Any = cleaned
        for part in parents:
            holder = holder[part]
        if isinstance(holder, dict):
            holder.pop(last, None)
    return cleaned
