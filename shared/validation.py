"""Validation errors told in one line a person can act on: each field and its problem, never the
value (pydantic's messages quote no input), the first few of them."""

from typing import Any, Final

from pydantic import ValidationError

# How many of an input's problems a message names; the rest are counted.
MAX_PROBLEMS: Final = 5
# How much of a field's name (each part of its path) a message quotes.
MAX_NAME_CHARS: Final = 40


def problems(err: ValidationError, limit: int = MAX_PROBLEMS) -> str:
    """The first ``limit`` problems, each its field (each part of its path cut to
    MAX_NAME_CHARS: an unknown field's name is the sender's, and two of 100,000 characters made
    a batch's reason for one item 200,000 characters long) and pydantic's message."""
    named = [
        f"{'.'.join(str(p)[:MAX_NAME_CHARS] for p in e['loc']) or 'input'}: {e['msg']}"
        for e in err.errors()[:limit]
    ]
    more = err.error_count() - len(named)
    return "; ".join(named) + (f"; and {more} more" if more > 0 else "")


def fields(err: ValidationError, limit: int = 10) -> str:
    """The fields a validation error names (dotted paths, each part cut short), never its
    values nor its messages: for a log or an answer about input that may be customer text."""
    paths = sorted(
        {".".join(str(p)[:MAX_NAME_CHARS] for p in e["loc"]) or "(root)" for e in err.errors()}
    )
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def too_long(field: str, value: object, limit: object) -> str:
    """A text over its limit, worded the same by intake and the API's other bodies: "field
    'body' is 20,001 characters; the limit is 20,000"."""
    size = f"{len(value):,}" if isinstance(value, str) else "too many"
    return f"field '{field}' is {size} characters; the limit is {_counted(limit)}"


def _counted(limit: object) -> str:
    return f"{limit:,}" if isinstance(limit, int) else str(limit)


def json_kind(value: object) -> str:
    """How JSON calls a value's kind, for an error message."""
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else "text"


class NameGivenTwice(ValueError):
    """A JSON object names one member twice (``name``)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class RepeatedNames(dict[str, Any]):
    """An object that named a member twice (``repeated``: the first such name), kept so that
    one item of a list can be refused alone (``marking_repeats``)."""

    repeated: str = ""


def marking_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' object hook that marks an object naming a member twice (a
    ``RepeatedNames`` holding the first one) instead of refusing the whole document."""
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            marked = RepeatedNames(pairs)
            marked.repeated = name
            return marked
        members[name] = value
    return members


def first_repeated(value: Any) -> str | None:
    """The first member name given twice anywhere in a document ``marking_repeats`` read."""
    todo = [value]
    while todo:
        current = todo.pop()
        if isinstance(current, RepeatedNames):
            return current.repeated
        if isinstance(current, dict):
            todo.extend(current.values())
        elif isinstance(current, list):
            todo.extend(current)
    return None


def once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' object hook that refuses a name given twice (``NameGivenTwice``): json
    keeps the last silently, so {"id": "A", ..., "id": "B"} would be B without a word."""
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise NameGivenTwice(name)
        members[name] = value
    return members
