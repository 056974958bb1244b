"""Reading tickets from JSON Lines files: every bad line is reported with file, line and field,
and every good line still goes through."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.swarm import SwarmItem
from shared.tickets import (
    MAX_BODY_CHARS,
    MAX_EMAIL_CHARS,
    MAX_SUBJECT_CHARS,
    Channel,
    CustomerTier,
    Ticket,
    derive_ticket_id,
)

# Accepted spellings of each field (the first is the canonical one).
FIELD_ALIASES = {
    "ticket_id": ("ticket_id", "id"),
    "subject": ("subject",),
    "body": ("body",),
    "customer_id": ("customer_id", "customer"),
    "customer_tier": ("customer_tier", "tier"),
    "channel": ("channel",),
    "customer_email": ("customer_email", "email"),
}
_KNOWN = {alias: canonical for canonical, aliases in FIELD_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class InputError:
    source: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class ParsedTicket:
    ticket: Ticket
    source: str
    line: int | None


def _field_message(error: dict[str, Any], raw: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error["loc"] else "ticket"
    kind = error["type"]
    value = raw.get(field)
    if kind == "missing":
        return f"field '{field}' is missing"
    if kind == "string_too_short":
        return f"field '{field}' is empty"
    if kind == "string_too_long":
        limit = {
            "subject": MAX_SUBJECT_CHARS,
            "body": MAX_BODY_CHARS,
            "customer_email": MAX_EMAIL_CHARS,
        }.get(field)
        size = f"{len(value):,}" if isinstance(value, str) else "too many"
        limit_text = f"{limit:,}" if limit else str(error.get("ctx", {}).get("max_length", "?"))
        return f"field '{field}' is {size} characters; the limit is {limit_text}"
    if kind == "string_pattern_mismatch" and field == "customer_email":
        return f"field 'customer_email' must be one address like name@example.com (got {value!r})"
    if kind == "string_pattern_mismatch":
        return f"field '{field}' must be 1-64 letters, digits, '.', '_' or '-' (got {value!r})"
    if kind == "enum":
        allowed = {
            "customer_tier": ", ".join(t.value for t in CustomerTier),
            "channel": ", ".join(c.value for c in Channel),
        }.get(field, "")
        return f"field '{field}' must be one of {allowed} (got {value!r})"
    if kind == "string_type":
        return f"field '{field}' must be text (got {type(value).__name__})"
    return f"field '{field}': {error['msg']}"


def ticket_from_mapping(raw: dict[str, Any]) -> tuple[Ticket | None, list[str]]:
    """A ticket from user-supplied fields, or the list of what is wrong with them."""
    fields: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        canonical = _KNOWN.get(key)
        if canonical is None:
            problems.append(f"unknown field '{key}' (known: {', '.join(FIELD_ALIASES)})")
        elif canonical in fields:
            problems.append(f"field '{canonical}' is given twice (as '{key}')")
        elif value is not None:
            fields[canonical] = value
    if problems:
        return None, problems
    derived = "ticket_id" not in fields
    if derived:
        # The id is optional: derive it from the content, so the same ticket submitted twice
        # gets the same id (placeholder when the content is itself invalid; errors say why).
        subject, body = fields.get("subject"), fields.get("body")
        fields["ticket_id"] = (
            derive_ticket_id(subject, body, fields.get("customer_id"))
            if isinstance(subject, str) and isinstance(body, str)
            else "T-unidentified"
        )
    try:
        return Ticket.model_validate(fields), []
    except ValidationError as err:
        errors = [e for e in err.errors() if not (derived and e["loc"][:1] == ("ticket_id",))]
        return None, [_field_message(e, fields) for e in errors]


def json_objects(
    data: bytes, source: str, errors: list[InputError]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each line's JSON object with its line number; a line that is not one (bad UTF-8, bad JSON,
    another JSON value) goes to ``errors`` instead. Blank lines are skipped."""
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark some editors write
    for number, raw_line in enumerate(data.split(b"\n"), start=1):
        if not raw_line.strip():
            continue
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as err:
            bad = raw_line[err.start]
            errors.append(
                InputError(
                    source, number, f"not valid UTF-8 (byte 0x{bad:02x} at column {err.start + 1})"
                )
            )
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            errors.append(
                InputError(source, number, f"not valid JSON: {err.msg} (column {err.colno})")
            )
            continue
        if not isinstance(raw, dict):
            errors.append(
                InputError(source, number, f"expected a JSON object, got {type(raw).__name__}")
            )
            continue
        yield number, raw


def parse_jsonl(data: bytes, source: str) -> tuple[list[ParsedTicket], list[InputError]]:
    tickets: list[ParsedTicket] = []
    errors: list[InputError] = []
    seen: dict[str, int] = {}
    for number, raw in json_objects(data, source, errors):
        ticket, problems = ticket_from_mapping(raw)
        if ticket is None:
            errors.extend(InputError(source, number, p) for p in problems)
            continue
        if (first := seen.get(ticket.ticket_id)) is not None:
            errors.append(
                InputError(
                    source, number, f"ticket {ticket.ticket_id} already appears on line {first}"
                )
            )
            continue
        seen[ticket.ticket_id] = number
        tickets.append(ParsedTicket(ticket, source, number))
    return tickets, errors


def read_jsonl(path: Path) -> tuple[list[ParsedTicket], list[InputError]]:
    try:
        data = path.read_bytes()
    except OSError as err:
        return [], [InputError(str(path), None, f"cannot read the file: {err.strerror}")]
    tickets, errors = parse_jsonl(data, str(path))
    if not tickets and not errors:
        errors.append(InputError(str(path), None, "the file holds no tickets"))
    return tickets, errors


def parse_swarm_items(data: bytes, source: str) -> tuple[list[SwarmItem], list[InputError]]:
    """Swarm input: one JSON object a line with ``text`` (or ``review``/``body``) and an optional
    ``id``; a line without an id gets its line number."""
    items: list[SwarmItem] = []
    errors: list[InputError] = []
    seen: set[str] = set()
    for number, raw in json_objects(data, source, errors):
        text_field = next(
            (k for k in ("text", "review", "body") if isinstance(raw.get(k), str)), "text"
        )
        text = raw.get(text_field)
        id_field = next((k for k in ("id", "item_id") if raw.get(k) not in (None, "")), None)
        item_id = str(raw[id_field]) if id_field else f"line-{number}"
        if not isinstance(text, str) or not text.strip():
            errors.append(InputError(source, number, "field 'text' is missing or empty"))
            continue
        if item_id in seen:
            errors.append(InputError(source, number, f"item {item_id} appears twice"))
            continue
        try:
            items.append(SwarmItem(item_id=item_id, text=text.strip()))
        except ValidationError as err:
            problem = err.errors()[0]
            # Name the field as the file spells it, not as the model does.
            where = (id_field or "id") if problem["loc"] == ("item_id",) else text_field
            size = len(item_id if where in ("id", "item_id") else text.strip())
            limit = problem.get("ctx", {}).get("max_length", "?")
            message = (
                f"field '{where}' is {size:,} characters; the limit is {limit:,}"
                if problem["type"] == "string_too_long"
                else f"field '{where}': {problem['msg']}"
            )
            errors.append(InputError(source, number, message))
            continue
        seen.add(item_id)
    return items, errors


def read_swarm_items(path: Path) -> tuple[list[SwarmItem], list[InputError]]:
    try:
        data = path.read_bytes()
    except OSError as err:
        return [], [InputError(str(path), None, f"cannot read the file: {err.strerror}")]
    return parse_swarm_items(data, str(path))
