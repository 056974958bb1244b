"""Input lines that are JSON but not a ticket, or past a limit: named by file, line and field
as the line spells it, and the other lines still come through; derived ids that never move."""

from pathlib import Path
from typing import Any

import pytest

from shared.tickets import derive_ticket_id
from starter import inputs
from starter.inputs import parse_jsonl, parse_swarm_items, read_jsonl, ticket_from_mapping
from tests.support.ticket_lines import good, jsonl, line

SOURCE = "tickets.jsonl"


# ---- lines that are JSON but not text a ticket can hold ------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        # The id was derived from the fields before they were checked: a customer id that was
        # not text ended the whole file with a TypeError.
        (b'{"subject": "a", "body": "b", "customer": [42]}', "field 'customer' must be text"),
        (b'{"subject": "a", "body": "b \\ud800"}', "field 'body' holds text that is not Unicode"),
        (b"[" * 100_000, "not valid JSON here: nested too deeply"),
        (
            b'{"subject": "a", "body": "b", "n": ' + b"9" * 5_000 + b"}",
            "a number here has more than 4,300 digits",
        ),
    ],
    ids=["listed-customer", "lone-surrogate", "deep-nesting", "huge-number"],
)
def test_a_line_that_cannot_be_a_ticket_is_named_and_the_others_still_come_through(
    bad: bytes, message: str
) -> None:
    tickets, errors = parse_jsonl(jsonl(good("T-1"), bad, good("T-3")), SOURCE)
    assert [p.ticket.ticket_id for p in tickets] == ["T-1", "T-3"]
    assert [(e.line, e.message.startswith(message)) for e in errors] == [(2, True)], errors


def test_a_derived_id_is_the_same_as_before_the_fields_were_checked_first() -> None:
    # Ids derived from content must not move: a resubmitted file finds its earlier tickets.
    ticket, problems = ticket_from_mapping(
        {"subject": "  Refund\n please ", "body": " Card charged twice.\x00 ", "customer": "C-9"}
    )
    assert problems == [] and ticket is not None
    # The literal ids of earlier versions: a change to the derivation (or to what it reads)
    # would process every resubmitted ticket again.
    assert ticket.ticket_id == "T-2f798ef6dfd5"
    plain, _ = ticket_from_mapping({"subject": "Locked out", "body": "Cannot log in."})
    assert plain is not None and plain.ticket_id == "T-e93c38bac371"
    assert ticket.ticket_id == derive_ticket_id(
        "  Refund\n please ", " Card charged twice.\x00 ", "C-9"
    )


def test_a_line_over_the_limit_is_refused_unread_and_a_file_over_the_limit_as_a_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starter import inputs

    long_line = line(ticket_id="T-2", subject="s", body="x" * (inputs.MAX_LINE_BYTES + 1))
    tickets, errors = parse_jsonl(jsonl(good("T-1"), long_line), SOURCE)
    assert [p.ticket.ticket_id for p in tickets] == ["T-1"]
    [error] = errors
    assert (error.line, error.message) == (
        2,
        f"the line is {len(long_line):,} bytes; the limit is {inputs.MAX_LINE_BYTES:,}",
    )

    path = tmp_path / "big.jsonl"
    path.write_bytes(jsonl(good("T-1"), good("T-2")))
    monkeypatch.setattr(inputs, "MAX_FILE_BYTES", path.stat().st_size - 1)
    assert read_jsonl(path)[1][0].message.startswith("the file is larger than")


def test_fields_are_named_as_the_line_spells_them_and_numbered_ids_are_read_as_text() -> None:
    # "tier": "gold" was reported as field 'customer_tier'; helpdesk exports number tickets.
    data = jsonl(
        line(id=1001, subject="Hi", body="Hello", customer=42),
        line(id="T-2", subject="Hi", body="Hello", tier="gold"),
    )
    tickets, errors = parse_jsonl(data, SOURCE)
    assert [(p.ticket.ticket_id, p.ticket.customer_id) for p in tickets] == [("1001", "42")]
    assert [e.message for e in errors] == [
        "field 'tier' must be one of free, standard, premium, enterprise (got 'gold')"
    ]
    _, problems = ticket_from_mapping({"subject": "a", "body": "b", "email": "bad"})
    assert problems == ["field 'email' must be one address like name@example.com (got 'bad')"]
    _, problems = ticket_from_mapping(
        {"subject": "a", "body": "b", "tier": "free", "customer_tier": "free"}
    )
    assert problems == ["field 'customer_tier' is given twice (as 'tier' and 'customer_tier')"]
    # A null alias is as if not given, in either order (an export's empty column).
    for fields in (
        {"customer_id": "c1", "customer": None},
        {"customer": None, "customer_id": "c1"},
    ):
        ticket, problems = ticket_from_mapping({"subject": "a", "body": "b", **fields})
        assert problems == [] and ticket is not None and ticket.customer_id == "c1"


@pytest.mark.parametrize(
    "mark", [pytest.param("\ufeff", id="with-its-mark"), pytest.param("", id="without-a-mark")]
)
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_one_error_naming_the_encoding(mark: str, encoding: str) -> None:
    # Windows PowerShell's > writes UTF-16: each line was its own confusing error.
    data = (mark + jsonl(good("T-1"), good("T-2")).decode()).encode(encoding)
    tickets, errors = parse_jsonl(data, SOURCE)
    assert tickets == []
    assert [str(e) for e in errors] == [f"{SOURCE}: the file is UTF-16: save it as UTF-8"]


@pytest.mark.parametrize(
    "mark", [pytest.param("\ufeff", id="with-its-mark"), pytest.param("", id="without-a-mark")]
)
@pytest.mark.parametrize("encoding", ["utf-32-le", "utf-32-be"])
def test_a_utf32_file_is_one_error_naming_the_encoding(mark: str, encoding: str) -> None:
    # Each line was its own "not valid JSON" (big-endian) or the file was called UTF-16.
    data = (mark + jsonl(good("T-1"), good("T-2")).decode()).encode(encoding)
    tickets, errors = parse_jsonl(data, SOURCE)
    assert tickets == []
    assert [str(e) for e in errors] == [f"{SOURCE}: the file is UTF-32: save it as UTF-8"]


@pytest.mark.parametrize("opening", [b"\x00" * 4096 + b"\n", b"\x00"], ids=["a-run", "one"])
def test_nul_bytes_opening_a_file_are_that_line_s_error_and_the_rest_go_through(
    opening: bytes,
) -> None:
    # A log truncated under a writer that kept its offset opens with NUL bytes: the whole file
    # was refused as UTF-16, every valid line with it, and no line named.
    data = opening + jsonl(good("T-1"), good("T-2"), good("T-3"))
    tickets, errors = parse_jsonl(data, SOURCE)
    # A single NUL byte joins the first line: that line is the error, the others go through.
    expected = ["T-1", "T-2", "T-3"] if opening.endswith(b"\n") else ["T-2", "T-3"]
    assert [p.ticket.ticket_id for p in tickets] == expected
    assert [(e.line, "not valid JSON" in str(e)) for e in errors] == [(1, True)]


# ---- how much one file may hold ------------------------------------------------------------------


def test_a_file_of_more_items_than_the_limit_is_read_up_to_it_and_says_where_it_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 935,000 small tickets took a gigabyte to parse, all of them held at once.
    monkeypatch.setattr(inputs, "MAX_ITEMS_PER_FILE", 3)
    tickets, errors = parse_jsonl(jsonl(*(good(f"T-{n}") for n in range(1, 6))), SOURCE)

    assert [p.ticket.ticket_id for p in tickets] == ["T-1", "T-2", "T-3"]
    assert [(e.line, e.message) for e in errors] == [
        (
            4,
            "a file takes at most 3 items, and the lines before this one held them: nothing from "
            "this line on was read; split the file",
        )
    ]


def test_a_file_of_lines_that_are_not_tickets_lists_the_limit_and_asks_if_it_is_the_right_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two million lines of "x" made two million errors (600 MB); the good lines still come
    # through, the last one too (reading stopped once the bad lines outnumbered the good).
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 3)
    tickets, errors = parse_jsonl(jsonl(good("T-1"), *([b"x"] * 10), good("T-12")), SOURCE)

    assert [p.ticket.ticket_id for p in tickets] == ["T-1", "T-12"]
    assert [e.line for e in errors] == [2, 3, 4, None]
    assert errors[-1].message == (
        "7 more lines were refused besides the 3 listed; 10 refused against 2 taken: is this "
        "the right file?"
    )


def test_an_export_whose_first_lines_are_all_wrong_still_gives_every_good_ticket_after_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading stopped once the bad lines outnumbered the good ones: an export sorted so its
    # first thousand tickets were refused (phone calls with no body) lost all the rest.
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 3)
    no_body = b'{"subject": "phone call", "body": ""}'
    tickets, errors = parse_jsonl(
        jsonl(*([no_body] * 4), *(good(f"T-{n}") for n in range(10))), SOURCE
    )

    assert len(tickets) == 10
    assert [e.line for e in errors] == [1, 2, 3, None]
    assert errors[-1].message == "1 more lines were refused besides the 3 listed"


def test_swarm_items_past_the_limit_of_listed_bad_lines_are_all_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The swarm's reader counted no good line: it stopped at the limit's bad line, and a file
    # with every tenth line wrong lost the rest of its items. Field problems were never bounded
    # (100,000 of them listed).
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 3)
    lines = [b"x" if n % 5 == 0 else b'{"text": "t"}' for n in range(1, 41)]
    items, errors = parse_swarm_items(jsonl(*lines, *([b'{"content": "r"}'] * 5)), SOURCE)

    assert len(items) == 32
    assert [e.line for e in errors] == [5, 10, 15, None]
    assert errors[-1].message == "10 more lines were refused besides the 3 listed"


def test_a_swarm_file_lists_its_first_bad_lines_whichever_pass_found_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lines that are no JSON object are found before the field problems: with more of them than
    # are listed, the first bad line (an empty text) was only counted.
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 3)
    data = jsonl(b'{"text": ""}', *([b"garbage"] * 5), b'{"text": "fine"}', b'{"text": " "}')
    items, errors = parse_swarm_items(data, SOURCE)

    assert [i.text for i in items] == ["fine"]
    assert [e.line for e in errors] == [1, 2, 3, None]
    assert errors[0].message == "field 'text' is missing or empty"
    assert errors[-1].message.startswith("4 more lines were refused besides the 3 listed")


def test_a_byte_order_mark_opening_a_line_is_dropped() -> None:
    # Two files saved by Notepad and joined with cat: the second's first line was refused with
    # Python's "Unexpected UTF-8 BOM".
    bom = b"\xef\xbb\xbf"
    data = bom + good("T-1") + b"\r\n" + bom + good("T-2") + b"\r\n"
    tickets, errors = parse_jsonl(data, SOURCE)
    assert [p.ticket.ticket_id for p in tickets] == ["T-1", "T-2"] and errors == []


def test_the_limit_counts_lines_not_problems_nor_tickets_given_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The limit counted errors: 500 lines of two bad fields each stopped a file at its line 501
    # and its 1,000 valid tickets after them were lost; so did a file appended to itself.
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 3)
    two_bad_fields = [good(f"B-{n}", tier="gold", customer_email="bad") for n in (1, 2)]
    given_twice = [good("T-1")] * 4
    tickets, errors = parse_jsonl(jsonl(*two_bad_fields, *given_twice, good("T-9")), SOURCE)

    assert [p.ticket.ticket_id for p in tickets] == ["T-1", "T-9"]
    # Listed up to the limit, counted past it (100,000 repeats were 99,990 listed errors).
    assert [e.line for e in errors] == [1, 1, 2, 2, 4, None]  # a line's problems, each
    assert errors[-1].message.startswith("2 more lines were refused besides the 3 listed")


def test_a_mostly_good_file_is_read_to_its_end_past_the_limit_of_listed_bad_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Reading stopped at the limit's bad line however many were good: a 60,000-line export with
    # every 50th ticket wrong lost its last 10,000 tickets. Past the limit bad lines are counted.
    monkeypatch.setattr(inputs, "MAX_BAD_LINES", 3)
    lines = []
    for n in range(1, 41):
        lines.append(good(f"T-{n}") if n % 5 else b'{"subject": "no body"}')
    tickets, errors = parse_jsonl(jsonl(*lines), SOURCE)

    assert len(tickets) == 32  # every good one, the last included
    assert tickets[-1].ticket.ticket_id == "T-39"
    assert [e.line for e in errors[:-1]] == [5, 10, 15]
    assert errors[-1].message == "5 more lines were refused besides the 3 listed"


def test_a_regular_file_over_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 128 MiB (200 MB of memory) were read only to be refused (a review, 2026-12-07).
    from starter import inputs

    path = tmp_path / "big.jsonl"
    with path.open("wb") as sparse:
        sparse.truncate(2 * 1024**3)  # 2 GiB of nothing: reading it would take seconds
    reads: list[int] = []
    real_open = inputs.open_to_read

    def counted(p: Path) -> Any:
        file = real_open(p)
        real_read = file.read
        file.read = lambda n=-1: reads.append(n) or real_read(n)  # type: ignore[method-assign]
        return file

    monkeypatch.setattr(inputs, "open_to_read", counted)

    [error] = read_jsonl(path)[1]

    assert error.message.startswith("the file is larger than 128 MiB")
    assert reads == []


def test_a_csv_file_is_named_as_such() -> None:
    # Every line was "not valid JSON", with no word that the file was a spreadsheet's export.
    _, errors = parse_jsonl(b"id,subject,body\n1,Hi,Help\n", "tickets.csv")
    assert errors[0].message.endswith(
        "the file looks like CSV: give JSON Lines, one JSON object a line"
    )
