"""Where a TOML file sets each key: for error messages that name the line as well as the field.

tomllib gives values, not positions. This reads the text once more, line by line, for the
forms a configuration file uses: ``[table]`` and ``[[array.of.tables]]`` headers, and ``key =``
lines with bare, quoted or dotted keys. A key inside an inline table or a multi-line value is
found at the line of the key that holds it (``line_of`` takes the longest known prefix), which
is where a person would look. Only used after tomllib has read the same text, so the text is
valid TOML.
"""

import re
from collections.abc import Sequence

_KEY_PART = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER = re.compile(rf"\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGNMENT = re.compile(rf"\s*({_DOTTED})\s*=(.*)$")
_PART = re.compile(_KEY_PART)
_MULTILINE_QUOTES = ('"""', "'''")


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(part[1:-1] if part[0] in "\"'" else part for part in _PART.findall(dotted))


def _value_part(value: str) -> str:
    """``value`` up to a comment: a ``#`` outside single-line strings (a multi-line string's
    opening quotes are kept, the text after them is not a comment)."""
    quote: str | None = None
    i = 0
    while i < len(value):
        c = value[i]
        if quote is None and value.startswith(_MULTILINE_QUOTES, i):
            return value  # the rest is the string's, whatever it holds
        if quote is None and c in "\"'":
            quote = c
        elif quote == '"' and c == "\\":
            i += 1  # an escaped character
        elif c == quote:
            quote = None
        elif quote is None and c == "#":
            return value[:i]
        i += 1
    return value


def _depth(value: str) -> int:
    """How many more brackets ``value`` opens than it closes (outside strings): an array left
    open continues on the next lines."""
    depth, quote = 0, None
    for c in value:
        if quote is None and c in "\"'":
            quote = c
        elif c == quote:
            quote = None
        elif quote is None and c in "[{":
            depth += 1
        elif quote is None and c in "]}":
            depth -= 1
    return depth


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Each table's and key's dotted path, mapped to the (1-based) line that sets it first."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    open_quote: str | None = None
    open_brackets = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote is not None:
            # Inside a multi-line string: a line like "a = b" in it is text, not a key.
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        if open_brackets > 0:
            # Inside a multi-line array or inline table: `["x"]` there is a value, not a header.
            open_brackets += _depth(_value_part(line))
            continue
        if header := _HEADER.match(line):
            table = _parts(header.group(1))
            lines.setdefault(table, number)
            continue
        if assignment := _ASSIGNMENT.match(line):
            lines.setdefault(table + _parts(assignment.group(1)), number)
            value = _value_part(assignment.group(2))
            open_quote = next((q for q in _MULTILINE_QUOTES if value.count(q) % 2 == 1), None)
            if open_quote is None:
                open_brackets = max(_depth(value), 0)
    return lines


def line_of(lines: dict[tuple[str, ...], int], loc: Sequence[object]) -> int | None:
    """The line of ``loc`` (a field's path, perhaps with list indexes) or of the nearest key
    that holds it; None when the file does not set any of it (a default's problem)."""
    path = tuple(str(part) for part in loc)
    for end in range(len(path), 0, -1):
        if (found := lines.get(path[:end])) is not None:
            return found
    return None
