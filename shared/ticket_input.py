"""One ticket from fields a person or a program supplied, or the list of what is wrong with them,
each naming the field. The command-line client (JSON Lines files, flags) and the HTTP API use it,
so a ticket is accepted or refused the same way whichever door it comes through."""

import re
from typing import Any

from pydantic import ValidationError

from shared.tickets import (
    MAX_BODY_CHARS,
    MAX_EMAIL_CHARS,
    MAX_SUBJECT_CHARS,
    Channel,
    CustomerTier,
    Ticket,
    derive_ticket_id,
    email_problem,
    normalize_subject,
    without_nul,
)
from shared.validation import json_kind, too_long

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
# Stands in for an id to be derived while the other fields are checked.
PLACEHOLDER_ID = "T-unidentified"
# Optional fields an empty string leaves out, as null does: spaces too, but for the customer
# id, whose spaces-only value is refused by name (one customer for every such ticket). An empty
# ticket id is derived, as a left-out one (a spreadsheet's empty id column refused every row).
BLANK_IS_NOT_GIVEN = frozenset(
    {"ticket_id", "customer_id", "customer_tier", "channel", "customer_email"}
)


def _blank(canonical: str, value: str) -> bool:
    return value == "" if canonical == "customer_id" else not value.strip()


def given(canonical: str, value: object) -> bool:
    """Whether a field's value counts as given: not null, and not blank where blank is not given
    (BLANK_IS_NOT_GIVEN), as intake reads it."""
    if value is None:
        return False
    return not (
        canonical in BLANK_IS_NOT_GIVEN and isinstance(value, str) and _blank(canonical, value)
    )


# Fields a whole number may be given for, read as its digits.
NUMBERED = frozenset({"ticket_id", "customer_id"})
# Every accepted spelling, for the message naming an unknown field.
KNOWN_SPELLINGS = ", ".join(
    name + (f" (or {', '.join(aliases[1:])})" if len(aliases) > 1 else "")
    for name, aliases in FIELD_ALIASES.items()
)
_KNOWN = {alias: canonical for canonical, aliases in FIELD_ALIASES.items() for alias in aliases}
# What a refusal may hold, so that its size does not grow with its input (a JSON object of
# 110,000 unknown one-character keys once made a 17.7 MB answer): unknown keys named in one
# problem, problems per item, and each value or key quoted back.
MAX_UNKNOWN_NAMED = 5
MAX_PROBLEMS_PER_ITEM = 10
MAX_QUOTED_CHARS = 60


def quoted(value: object) -> str:
    """``value`` as a problem quotes it back: its repr, cut to MAX_QUOTED_CHARS."""
    text = repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else f"{text[: MAX_QUOTED_CHARS - 1]}…"


def capped(problems: list[str], limit: int) -> list[str]:
    """The first ``limit`` problems, the rest counted in one more: "and 12 more problems"."""
    if len(problems) <= limit:
        return problems
    left = len(problems) - (limit - 1)
    return [*problems[: limit - 1], f"and {left:,} more problems"]


def unknown_fields_problem(keys: list[str]) -> str:
    """One problem for every unknown key of an item, naming the first few."""
    named = ", ".join(quoted(k) for k in keys[:MAX_UNKNOWN_NAMED])
    more = f" and {len(keys) - MAX_UNKNOWN_NAMED:,} more" if len(keys) > MAX_UNKNOWN_NAMED else ""
    noun = "field" if len(keys) == 1 else "fields"
    return f"unknown {noun} {named}{more} (known: {KNOWN_SPELLINGS})"


def _as_measured(canonical: str, value: object) -> object:
    """A text as the model measures it against its limit (NULs dropped; the subject's spaces
    collapsed, the body's and address's ends stripped): a body of 20,001 characters and 500
    trailing spaces was said to be 20,501, 501 over where 1 was."""
    if not isinstance(value, str):
        return value
    text = str(without_nul(value))
    if canonical == "subject":
        return normalize_subject(text)
    return text.strip() if canonical in ("body", "customer_email") else text


def _field_message(
    error: dict[str, Any],
    raw: dict[str, Any],
    given_as: dict[str, str] | None = None,
    nulls: dict[str, str] | None = None,
) -> str:
    """What is wrong with one field, named as the input spelled it (``tier``, not the model's
    ``customer_tier``); ``nulls``: fields given as null, by the name they were given under."""
    canonical = str(error["loc"][0]) if error["loc"] else "ticket"
    value = raw.get(canonical)
    kind = error["type"]
    field = (given_as or {}).get(canonical, canonical)
    if kind == "missing" and canonical in (nulls or {}):
        return f"field '{(nulls or {})[canonical]}' is null: it needs text"
    if kind == "missing":
        return f"field '{field}' is missing"
    if kind == "string_too_short":
        return f"field '{field}' is empty"
    if kind == "string_too_long":
        limit = {
            "subject": MAX_SUBJECT_CHARS,
            "body": MAX_BODY_CHARS,
            "customer_email": MAX_EMAIL_CHARS,
        }.get(canonical)
        return too_long(
            field,
            _as_measured(canonical, value),
            limit or error.get("ctx", {}).get("max_length", "?"),
        )
    if kind == "string_pattern_mismatch" and canonical == "customer_email":
        return f"field '{field}' must be one address like name@example.com (got {quoted(value)})"
    if kind == "string_pattern_mismatch":
        return (
            f"field '{field}' must be 1-64 letters, digits, '.', '_' or '-' (got {quoted(value)})"
        )
    if kind == "enum":
        allowed = {
            "customer_tier": ", ".join(t.value for t in CustomerTier),
            "channel": ", ".join(c.value for c in Channel),
        }.get(canonical, "")
        return f"field '{field}' must be one of {allowed} (got {quoted(value)})"
    if kind == "string_unicode":
        return f"field '{field}' holds text that is not Unicode (a lone surrogate like \\ud800)"
    if kind == "string_type" and canonical in NUMBERED and type(value) is float:
        # A whole number is read as its digits (above); 4.5 is neither, and 1001.0 (an
        # export's float column) is not read as 1001: its id would change with its writing.
        if value.is_integer():
            return (
                f"field '{field}' must be text or a whole number written without a decimal "
                f"point or exponent, not {quoted(str(value))}"
            )
        return f"field '{field}' must be text or a whole number, not {quoted(str(value))}"
    if kind == "string_type":
        return f"field '{field}' must be text, not {json_kind(value)}"
    return f"field '{field}': {error['msg']}"[:200]


# Unicode's control characters (category Cc) but NUL, and its line and paragraph separators (Zl,
# Zp), as one compiled class: a loop asking unicodedata of each character held the API's event
# loop 80 ms for a 1,000,000-character customer id, scanned before the length limit applied.
_LINE_BREAKING = re.compile("[\x01-\x1f\x7f-\x9f\u2028\u2029]")


def line_breaking_problem(text: str) -> str | None:
    """A control character (a line break, a tab, an escape; NUL aside, which the model drops)
    or a line or paragraph separator in an identifier, named with its place: in a customer id
    it split the CLI's tables and log lines, and ``erase --customer`` could not be given it."""
    found = _LINE_BREAKING.search(text)
    if found is None:
        return None
    return (
        f"holds a control character ({found.group()!r} at character {found.start() + 1:,}): an "
        "id is one line without tabs or escapes"
    )


def ticket_from_mapping(raw: dict[str, Any]) -> tuple[Ticket | None, list[str]]:
    """A ticket from user-supplied fields, or the list of what is wrong with them (at most
    MAX_PROBLEMS_PER_ITEM, whatever the input's size)."""
    fields: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    unknown: list[str] = []
    problems: list[str] = []
    nulls: dict[str, str] = {}
    for key, value in raw.items():
        canonical = _KNOWN.get(key)
        if canonical is None:
            unknown.append(key)
        elif value is None:
            # As if not given: an export's empty alias column ({"customer_id": "c1", "customer":
            # null}) was "given twice", or not, depending on the keys' order. Remembered for a
            # required field's message: "is missing" for one given as null misled.
            nulls.setdefault(canonical, key)
            continue
        elif (
            canonical in BLANK_IS_NOT_GIVEN and isinstance(value, str) and _blank(canonical, value)
        ):
            # A CSV export's empty column, as null: "" was refused as an address, a tier or a
            # channel, and an empty "customer" beside "customer_id" was "given twice".
            continue
        elif canonical in fields:
            problems.append(
                f"field '{canonical}' is given twice (as '{given_as[canonical]}' and '{key}')"
            )
        else:
            # Helpdesk exports number their tickets and customers: 1001 is the id "1001".
            if canonical in NUMBERED and type(value) is int:
                value = str(value)
            fields[canonical] = value
            given_as[canonical] = key
    if unknown:
        problems.insert(0, unknown_fields_problem(unknown))
    # Helpdesk exports write "Premium" and "Email": the names are read in any case (a refusal
    # quotes the value as given).
    as_given = dict(fields)
    for named in ("customer_tier", "channel"):
        if isinstance(fields.get(named), str):
            fields[named] = fields[named].strip().lower()
    if problems:
        return None, capped(problems, MAX_PROBLEMS_PER_ITEM)
    # Kept as given otherwise: its spaces are part of the ticket's identity (its derived id,
    # its content digest), and a ticket sent again must find the one it started.
    customer = fields.get("customer_id")
    if customer == "":
        # An export's empty column: no customer, as the field left out (the same derived id
        # and content digest: both read an empty customer as none).
        del fields["customer_id"]
    elif isinstance(customer, str) and not customer.strip():
        # Every such ticket was one customer (one fairness key), that `erase --customer`
        # could not name.
        problems.append(
            f"field '{given_as['customer_id']}' is only spaces: give the customer's id, or "
            "leave the field out"
        )
    elif isinstance(customer, str) and (problem := line_breaking_problem(customer)) is not None:
        problems.append(f"field '{given_as['customer_id']}' {problem}")
    derived = "ticket_id" not in fields
    if derived:
        fields["ticket_id"] = PLACEHOLDER_ID
    try:
        ticket = Ticket.model_validate(fields)
    except ValidationError as err:
        errors = [e for e in err.errors() if not (derived and e["loc"][:1] == ("ticket_id",))]
        problems += [_field_message(e, as_given, given_as, nulls) for e in errors]
        return None, capped(problems, MAX_PROBLEMS_PER_ITEM)
    address = ticket.customer_email
    if address is not None and (problem := email_problem(address)) is not None:
        field = given_as.get("customer_email", "customer_email")
        problems.append(f"field '{field}' {problem} (got {quoted(address)})")
    if problems:
        return None, problems
    if derived:
        # The id is optional: derive it from the content, so the same ticket submitted twice
        # gets the same id. From the fields as given (as always), once they are known to be
        # text: a number as the customer id, or text that is not Unicode, is refused above by
        # name instead of ending the whole file or request.
        ticket_id = derive_ticket_id(
            fields["subject"], fields["body"], fields.get("customer_id"), ticket.customer_email
        )
        ticket = ticket.model_copy(update={"ticket_id": ticket_id})
    return ticket, []
