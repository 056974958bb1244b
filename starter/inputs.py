"""Reading tickets from JSON Lines files: every bad line is reported with file, line and field,
and every good line still goes through. One ticket's fields are checked by
``shared.ticket_input.ticket_from_mapping``, which the HTTP API uses too."""

import heapq
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from shared.bounded_read import open_to_read
from shared.swarm import SwarmItem
from shared.ticket_input import FIELD_ALIASES, line_breaking_problem, quoted, ticket_from_mapping
from shared.tickets import Ticket
from shared.validation import NameGivenTwice, json_kind, once_each

# The largest line read: a ticket of the longest subject and body with every character written
# as a JSON escape (\uXXXX, 6 bytes) fits with room to spare. Longer lines are refused before
# they are parsed (a 200 MB line took over a gigabyte to parse, only to be refused).
MAX_LINE_BYTES: Final = 256 * 1024
# The largest file read (tens of thousands of tickets or items); split a larger one.
MAX_FILE_BYTES: Final = 128 * 1024 * 1024
# The most objects read from one file (935,000 small tickets took a gigabyte to parse); and the
# most bad lines listed from one file (two million errors took 600 MB): past it they are counted,
# and the count says when they outnumber the good ones (the wrong file?). Reading goes on to the
# end (the file's size bounds it): it stopped once the bad lines outnumbered the good ones, and
# an export whose first thousand tickets were wrong lost every good one after them; before that
# it stopped at the 1,000th bad line however many were good.
MAX_ITEMS_PER_FILE: Final = 100_000
MAX_BAD_LINES: Final = 1_000


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


@dataclass
class BadLines:
    """Lines of a file that were not what the command reads, counted once each: the reader's
    own (not a JSON object) and those its caller refused (an object that is not a ticket)."""

    count: int = 0
    good: int = 0  # lines the caller took (a reader that counts none stops at MAX_BAD_LINES)
    unlisted: int = 0  # bad lines past MAX_BAD_LINES, counted, not listed

    def refuse(self, errors: list["InputError"], found: list["InputError"]) -> None:
        """One more bad line, with its problems: listed while MAX_BAD_LINES are not."""
        self.count += 1
        if self.count <= MAX_BAD_LINES:
            errors.extend(found)
        else:
            self.unlisted += 1

    def summary(self, source: str) -> "InputError | None":
        if not self.unlisted:
            return None
        wrong_file = (
            f"; {self.count:,} refused against {self.good:,} taken: is this the right file?"
            if self.count > self.good
            else ""
        )
        return InputError(
            source,
            None,
            f"{self.unlisted:,} more lines were refused besides the {MAX_BAD_LINES:,} listed"
            + wrong_file,
        )


@dataclass
class FirstBadLines(BadLines):
    """BadLines for a reader that finds a file's problems out of line order (the swarm's: its
    lines that are no JSON object in a first pass, its field problems in a second): the
    MAX_BAD_LINES first lines are listed, whichever pass found them. With the first pass's
    listed first, a file of 1,001 lines of garbage after a line with an empty text left that
    first bad line counted, not listed. ``refuse`` keeps them here; ``listed`` gives them."""

    _kept: list[tuple[int, int, list["InputError"]]] = dataclass_field(default_factory=list)

    def refuse(self, errors: list["InputError"], found: list["InputError"]) -> None:
        self.count += 1
        # The highest line kept is popped first: (-line, order) in a heap.
        heapq.heappush(self._kept, (-(found[0].line or 0), -self.count, found))
        if len(self._kept) > MAX_BAD_LINES:
            heapq.heappop(self._kept)
            self.unlisted += 1

    def listed(self) -> list["InputError"]:
        return [e for _, _, found in sorted(self._kept, reverse=True) for e in found]


def _wide_encoding(data: bytes) -> str | None:
    """ "UTF-16" or "UTF-32" when ``data`` opens as text in one (by its byte-order mark, or
    without one by where its NUL bytes are: "{" is "{" and a NUL byte, or the reverse, in
    UTF-16, "{" and three NUL bytes in UTF-32), else None: a run of NUL bytes opening a file,
    as a log truncated under its writer leaves, is that line's error (the whole file was
    refused as UTF-16, every valid line with it)."""
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "UTF-32"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "UTF-16"
    head = data[: len(data[:8]) // 4 * 4]
    quads = [head[i : i + 4] for i in range(0, len(head), 4)]
    if quads and all(q.count(0) == 3 for q in quads):
        return "UTF-32"
    head = data[: len(data[:8]) // 2 * 2]
    pairs = [head[i : i + 2] for i in range(0, len(head), 2)]
    for nul_at in (0, 1):  # big-endian: the NUL first; little-endian: second
        if pairs and all(p[nul_at] == 0 and p[1 - nul_at] != 0 for p in pairs):
            return "UTF-16"
    return None


def json_objects(
    data: bytes, source: str, errors: list[InputError], bad: BadLines | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each line's JSON object with its line number; a line that is not one (bad UTF-8, bad JSON,
    another JSON value) goes to ``errors`` instead, listed while ``bad`` (this reader's bad lines
    and those its caller counts there) has not reached MAX_BAD_LINES. Blank lines are skipped;
    a byte-order mark opening a line is dropped (files joined with `cat`, each saved by an
    editor that writes one)."""
    bad = bad if bad is not None else BadLines()
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark some editors write
    if (wide := _wide_encoding(data)) is not None:
        # What Windows PowerShell's > writes: one error for the file, not one per line.
        errors.append(InputError(source, None, f"the file is {wide}: save it as UTF-8"))
        return
    found = 0

    def refused(number: int, message: str) -> None:
        bad.refuse(errors, [InputError(source, number, message)])

    for number, raw_line in enumerate(_lines(data), start=1):
        raw_line = raw_line.removeprefix(b"\xef\xbb\xbf")
        if not raw_line.strip():
            continue
        if found == MAX_ITEMS_PER_FILE:
            errors.append(
                InputError(
                    source,
                    number,
                    f"a file takes at most {MAX_ITEMS_PER_FILE:,} items, and the lines before "
                    "this one held them: nothing from this line on was read; split the file",
                )
            )
            return
        if len(raw_line) > MAX_LINE_BYTES:
            # A large file with bare-CR line endings is one line past the limit: say why.
            hint = (
                "; its lines end with a bare CR: save the file with LF or CRLF line endings"
                if b"\r" in raw_line.rstrip(b"\r")
                else "; it looks like one JSON array: give JSON Lines, one item per line"
                if number == 1 and raw_line.lstrip().startswith(b"[")
                else ""
            )
            said = f"the line is {len(raw_line):,} bytes; the limit is {MAX_LINE_BYTES:,}{hint}"
            refused(number, said)
            continue
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as err:
            byte = raw_line[err.start]
            refused(number, f"not valid UTF-8 (byte 0x{byte:02x} at column {err.start + 1})")
            continue
        try:
            raw = json.loads(text, object_pairs_hook=once_each)
        except NameGivenTwice as err:
            # json keeps the last silently: {"id": "A", ..., "id": "B"} was submitted as B.
            refused(number, f"the name {err.name[:40]!r} is given twice in one object")
            continue
        except json.JSONDecodeError as err:
            hint = ""
            if number == 1 and text.lstrip().startswith("["):
                hint = "; expected JSON Lines: one ticket object a line, not a JSON list"
            elif "\r" in text.rstrip("\r"):
                # Classic Mac OS ends lines with a bare CR: the whole file read as one line.
                hint = "; its lines end with a bare CR: save the file with LF or CRLF line endings"
            elif number == 1 and source.lower().endswith((".csv", ".tsv")):
                # Every line of a spreadsheet's export was "not valid JSON", with no word why.
                hint = "; the file looks like CSV: give JSON Lines, one JSON object a line"
            refused(number, f"not valid JSON: {err.msg} (column {err.colno}){hint}")
            continue
        except RecursionError:
            refused(number, "not valid JSON here: nested too deeply")
            continue
        except ValueError:  # a number of more digits than Python converts
            digits = sys.get_int_max_str_digits()
            refused(number, f"a number here has more than {digits:,} digits")
            continue
        if not isinstance(raw, dict):
            hint = " (JSON Lines: one object a line)" if isinstance(raw, list) else ""
            refused(number, f"expected a JSON object, got {type(raw).__name__}{hint}")
            continue
        found += 1
        yield number, raw


def _lines(data: bytes) -> Iterator[bytes]:
    """The lines of ``data`` one at a time (a list of them all cost 33 bytes a line besides)."""
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        yield data[start:end]
        start = end + 1
    yield data[start:]


def parse_jsonl(data: bytes, source: str) -> tuple[list[ParsedTicket], list[InputError]]:
    tickets: list[ParsedTicket] = []
    errors: list[InputError] = []
    seen: dict[str, int] = {}
    bad = BadLines()
    for number, raw in json_objects(data, source, errors, bad):
        ticket, problems = ticket_from_mapping(raw)
        if ticket is None:
            # One line, however many of its fields are wrong.
            bad.refuse(errors, [InputError(source, number, p) for p in problems])
            continue
        if (first := seen.get(ticket.ticket_id)) is not None:
            said = f"ticket {ticket.ticket_id} already appears on line {first}"
            bad.refuse(errors, [InputError(source, number, said)])  # listed up to the limit
            continue
        seen[ticket.ticket_id] = number
        tickets.append(ParsedTicket(ticket, source, number))
        bad.good += 1
    if (summary := bad.summary(source)) is not None:
        errors.append(summary)
    return tickets, errors


def resolved(name: str) -> Path:
    """``name`` as an absolute path with its links followed, where they can be: a loop of
    links (``ln -s loop loop``) raised and stopped the whole command, valid files too; such a
    file is taken as named, and reading it says what is wrong."""
    try:
        return Path(name).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(name))


def read_input(path: Path) -> bytes | InputError:
    """A whole input file, or why it cannot be read (unreadable, or over MAX_FILE_BYTES)."""
    too_large = InputError(
        str(path),
        None,
        f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it into smaller "
        "files",
    )
    try:
        with open_to_read(path) as file:
            # A regular file's size is known before it is read: 128 MiB (200 MB of memory, half
            # a second) were read only to be refused (a review, 2026-12-07). A pipe is read.
            info = os.fstat(file.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > MAX_FILE_BYTES:
                return too_large
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        return InputError(str(path), None, f"cannot read the file: {err.strerror}")
    if len(data) > MAX_FILE_BYTES:
        return too_large
    return data


def read_jsonl(path: Path) -> tuple[list[ParsedTicket], list[InputError]]:
    data = read_input(path)
    if isinstance(data, InputError):
        return [], [data]
    tickets, errors = parse_jsonl(data, str(path))
    if not tickets and not errors:
        errors.append(InputError(str(path), None, "the file holds no tickets"))
    return tickets, errors


def parse_swarm_items(data: bytes, source: str) -> tuple[list[SwarmItem], list[InputError]]:
    """Swarm input: one JSON object a line with ``text`` (or ``review``/``body``) and an optional
    ``id``; a line without an id gets ``line-N``, its line number (``line-N-2`` and on when
    another line gives ``line-N`` as its own id: neither line is refused for it)."""
    items: list[SwarmItem] = []
    errors: list[InputError] = []
    bad = FirstBadLines()
    lines = list(json_objects(data, source, errors, bad))

    def refused(number: int, message: str) -> None:
        bad.refuse(errors, [InputError(source, number, message)])

    given = {str(raw[k]) for _, raw in lines for k in ("id", "item_id") if _given_id(raw, k)}
    # Each id taken, and the line that took it.
    seen: dict[str, int] = {}
    for number, raw in lines:
        if problem := _swarm_fields_problem(raw):
            refused(number, problem)
            continue
        # The first field holding text; an export's empty column ("text": "" beside a filled
        # "review") was read as the item's text and the item refused as empty.
        text_field = next(
            (k for k in SWARM_TEXT_FIELDS if isinstance(raw.get(k), str) and raw[k].strip()),
            next((k for k in SWARM_TEXT_FIELDS if isinstance(raw.get(k), str)), "text"),
        )
        text = raw.get(text_field)
        id_field = next((k for k in ("id", "item_id") if raw.get(k) not in (None, "")), None)
        item_id = str(raw[id_field]) if id_field else _line_id(number, given)
        if not isinstance(text, str) or not text.strip():
            refused(number, f"field '{text_field}' is missing or empty")
            continue
        if id_field and (problem := _swarm_id_problem(raw, id_field, item_id)):
            refused(number, problem)
            continue
        if item_id in seen:
            refused(number, f"item id {item_id} is taken: line {seen[item_id]} has it")
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
            refused(number, message)
            continue
        seen[item_id] = number
        bad.good += 1
    # In the file's order: the lines that are no JSON object were found in a first pass.
    errors += bad.listed()
    errors.sort(key=lambda e: e.line or 0)
    if (summary := bad.summary(source)) is not None:
        errors.append(summary)
    return items, errors


# Where an item's text may be, one of them a line.
SWARM_TEXT_FIELDS = ("text", "review", "body")


def _given_id(raw: dict[str, object], field: str) -> bool:
    value = raw.get(field)
    return isinstance(value, str | int) and not isinstance(value, bool) and value != ""


def _line_id(number: int, given: set[str]) -> str:
    """The id of line ``number``, which gave none: ``line-N``, or the first ``line-N-K`` (K from
    2) that no line gives as its own."""
    item_id, k = f"line-{number}", 2
    while item_id in given:
        item_id, k = f"line-{number}-{k}", k + 1
    return item_id


def _swarm_fields_problem(raw: dict[str, object]) -> str | None:
    """A swarm line's id, or its only text field, of the wrong kind: what is wrong, or None.
    The first of SWARM_TEXT_FIELDS holding text is the item's; other fields (a rating, a date)
    are the export's own and are left alone."""
    texts = [k for k in SWARM_TEXT_FIELDS if raw.get(k) is not None]
    if texts and not any(isinstance(raw[k], str) for k in texts):
        return f"field '{texts[0]}' must be text, not {json_kind(raw[texts[0]])}"
    for field in ("id", "item_id"):
        value = raw.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            return f"field '{field}' must be text or a whole number, not {json_kind(value)}"
    return None


def _swarm_id_problem(raw: dict[str, object], id_field: str, item_id: str) -> str | None:
    """What is wrong with the id a line gives, or None: two ids that differ (the second was
    dropped without a word), spaces alone, or a control character or line separator (U+0085
    and U+2028 went through where a line break did not)."""
    other = "item_id" if id_field == "id" else "id"
    if _given_id(raw, other) and str(raw[other]) != item_id:
        ids = f"{quoted(str(raw['id']))}, {quoted(str(raw['item_id']))}"
        return f"fields 'id' and 'item_id' give two ids ({ids}): give one"
    if not item_id.strip():
        return f"field '{id_field}' is only spaces: give the item an id, or leave the field out"
    if "\x00" in item_id:
        # A ticket's text drops NUL (shared/tickets.py); an item's id is kept as given.
        return f"field '{id_field}' holds a NUL character"
    if (problem := line_breaking_problem(item_id)) is not None:
        return f"field '{id_field}' {problem}"
    return None


def read_swarm_items(path: Path) -> tuple[list[SwarmItem], list[InputError]]:
    data = read_input(path)
    if isinstance(data, InputError):
        return [], [data]
    return parse_swarm_items(data, str(path))


__all__ = ["FIELD_ALIASES", "InputError", "ParsedTicket", "ticket_from_mapping"]
