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
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.validation import problems
from shared.view import MAX_BATCH_ID_BYTES, TicketRequest


class ParsedRequest:
    def __init__(
        self,
        request: Any,
        problem: str | None = None,
        unknown_fields: Sequence[str] = (),
        strict_problem: str | None = None,
    ) -> None:
        self.request = request  # the model, or None when the input is not one
        self.problem = problem  # why the input is not one (None: it is)
        self.unknown_fields = list(unknown_fields)  # dotted paths left out
        # What a version that refused unknown fields said (for a history it recorded).
        self.strict_problem = strict_problem


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
        paths = [".".join(str(part) for part in loc) for loc in unknown]
        return ParsedRequest(request, unknown_fields=paths, strict_problem=strict)


def parse_request(raw: Any) -> ParsedRequest:
    """The ticket workflow's input (a TicketRequest)."""
    return parse_lenient(TicketRequest, raw)


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
