"""A traceback for the API's log with no exception's message: pydantic's quote the values they
refused, customer text that has no place in a log (api/errors.py logs unexpected errors so)."""

import traceback
from collections.abc import Iterator

from pydantic import ValidationError

from shared.validation import fields


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions behind it (causes and contexts), each once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def validation_errors(exc: BaseException) -> list[ValidationError]:
    """The pydantic validation errors in ``exc``'s chain."""
    return [e for e in chain(exc) if isinstance(e, ValidationError)]


def redacted_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (its causes first, as Python prints them) with no exception's
    message: a pydantic error's is replaced by the fields it names. Where it happened, never
    what the input held."""
    parts: list[str] = []
    for current in chain(exc):
        if isinstance(current, ValidationError):
            said = f"{current.title}: {len(current.errors())} error(s) in {fields(current)}"
        else:
            said = "(message not logged)"
        name = f"{type(current).__module__}.{type(current).__qualname__}"
        trace = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{trace}{name}: {said}")
    return "\n\nwhich caused:\n".join(reversed(parts))
