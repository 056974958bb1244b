"""Reading tickets from JSON Lines: bad lines reported by file, line and field; good lines kept."""

from pathlib import Path

import pytest

from shared.tickets import (
    MAX_BODY_CHARS,
    Channel,
    CustomerTier,
    Ticket,
    content_digest,
    derive_ticket_id,
    same_content,
)
from starter.inputs import (
    InputError,
    parse_jsonl,
    parse_swarm_items,
    read_jsonl,
    ticket_from_mapping,
)
from tests.support.ticket_lines import good, jsonl, line

SOURCE = "tickets.jsonl"


# ---- good input ----------------------------------------------------------------------------------


def test_valid_lines_are_parsed_with_their_line_numbers() -> None:
    tickets, errors = parse_jsonl(jsonl(good("T-1"), good("T-2"), good("T-3")), SOURCE)
    assert errors == []
    assert [(p.ticket.ticket_id, p.line, p.source) for p in tickets] == [
        ("T-1", 1, SOURCE),
        ("T-2", 2, SOURCE),
        ("T-3", 3, SOURCE),
    ]


def test_every_field_of_a_line_reaches_the_ticket() -> None:
    data = line(
        ticket_id="T-9",
        subject="Refund",
        body="I was charged twice.",
        customer_id="C-7",
        customer_tier="enterprise",
        channel="chat",
    )
    [parsed], errors = parse_jsonl(data, SOURCE)
    assert errors == []
    assert parsed.ticket.subject == "Refund"
    assert parsed.ticket.body == "I was charged twice."
    assert parsed.ticket.customer_id == "C-7"
    assert parsed.ticket.customer_tier is CustomerTier.ENTERPRISE
    assert parsed.ticket.channel is Channel.CHAT


def test_blank_lines_are_skipped_but_still_counted() -> None:
    data = b"\n   \n" + good("T-1") + b"\n\t\n" + good("T-2")
    tickets, errors = parse_jsonl(data, SOURCE)
    assert errors == []
    assert [(p.ticket.ticket_id, p.line) for p in tickets] == [("T-1", 3), ("T-2", 5)]


def test_windows_line_endings_are_accepted() -> None:
    tickets, errors = parse_jsonl(good("T-1") + b"\r\n" + good("T-2") + b"\r\n", SOURCE)
    assert errors == []
    assert [p.ticket.ticket_id for p in tickets] == ["T-1", "T-2"]


def test_old_mac_line_endings_are_named_as_the_problem() -> None:
    # The file read as one line, and said only "Extra data (column 46)".
    data = jsonl(good("T-1"), good("T-2")).replace(b"\n", b"\r")
    tickets, errors = parse_jsonl(data, SOURCE)
    assert tickets == []
    [error] = errors
    assert error.line == 1 and error.message.endswith(
        "its lines end with a bare CR: save the file with LF or CRLF line endings"
    )


def test_a_large_file_with_old_mac_line_endings_is_named_as_such_too() -> None:
    # Past the line limit it was refused as one long line, without a word about line endings.
    data = jsonl(*(good(f"T-{n}") for n in range(5_000))).replace(b"\n", b"\r")
    tickets, errors = parse_jsonl(data, SOURCE)
    assert tickets == []
    [error] = errors
    assert error.line == 1 and error.message.startswith("the line is ")
    assert error.message.endswith(
        "its lines end with a bare CR: save the file with LF or CRLF line endings"
    )


def test_the_short_field_names_are_accepted() -> None:
    data = line(id="T-5", subject="Hi", body="Hello", customer="C-1", tier="premium")
    [parsed], errors = parse_jsonl(data, SOURCE)
    assert errors == []
    assert parsed.ticket.ticket_id == "T-5"
    assert parsed.ticket.customer_id == "C-1"
    assert parsed.ticket.customer_tier is CustomerTier.PREMIUM


def test_a_line_without_an_id_gets_a_derived_one() -> None:
    data = line(subject="Locked out", body="Cannot log in.", customer_id="C-3")
    [parsed], errors = parse_jsonl(data, SOURCE)
    assert errors == []
    assert parsed.ticket.ticket_id == derive_ticket_id("Locked out", "Cannot log in.", "C-3")
    assert parsed.ticket.ticket_id.startswith("T-")


# ---- bad lines -----------------------------------------------------------------------------------

BAD_LINES = [
    pytest.param(b'{"subject": "Hi", "body": ', ["not valid JSON"], id="malformed-json"),
    pytest.param(b'["Hi", "Help"]', ["expected a JSON object", "list"], id="json-array"),
    pytest.param(b"42", ["expected a JSON object", "int"], id="json-number"),
    pytest.param(line(ticket_id="T-2", body="Help"), ["field 'subject' is missing"], id="no-subj"),
    pytest.param(line(ticket_id="T-2", subject="Hi"), ["field 'body' is missing"], id="no-body"),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body=""), ["field 'body' is empty"], id="empty"
    ),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body=" \n\t "),
        ["field 'body' is empty"],
        id="whitespace-body",
    ),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body="x" * (MAX_BODY_CHARS + 1)),
        ["field 'body'", "20,001 characters", "the limit is 20,000"],
        id="oversized-body",
    ),
    pytest.param(
        b'{"ticket_id": "T-2", "subject": "Caf\xe9", "body": "Help"}',
        ["not valid UTF-8", "0xe9", "column 37"],
        id="not-utf8",
    ),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body="Help", priority="High"),
        ["unknown field 'priority'"],
        id="unknown-field",
    ),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body="Help", tier="gold"),
        ["'tier'", "free, standard, premium, enterprise", "'gold'"],
        id="invalid-tier",
    ),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body="Help", channel="fax"),
        ["channel", "email, chat, web, phone, api", "'fax'"],
        id="invalid-channel",
    ),
    pytest.param(
        line(ticket_id="bad id!", subject="Hi", body="Help"),
        ["field 'ticket_id'", "'bad id!'"],
        id="bad-ticket-id",
    ),
    pytest.param(
        line(ticket_id="T-2", subject="Hi", body=7),
        ["field 'body' must be text, not a number"],
        id="body-not-text",
    ),
    pytest.param(
        line(id="T-2", ticket_id="T-2", subject="Hi", body="Help"),
        ["field 'ticket_id' is given twice"],
        id="id-given-twice",
    ),
    # A whole number is an id's digits; a fraction is neither (it said "must be text").
    pytest.param(
        line(id=4.5, subject="Hi", body="Help"),
        ["field 'id' must be text or a whole number, not '4.5'"],
        id="fractional-id",
    ),
    pytest.param(
        line(id=1001.0, subject="Hi", body="Help"),
        ["field 'id' must be text or a whole number written without a decimal point"],
        id="float-id",
    ),
    # Given, as null: it said "is missing".
    pytest.param(
        line(ticket_id="T-2", subject=None, body="Help"),
        ["field 'subject' is null: it needs text"],
        id="null-subject",
    ),
]


@pytest.mark.parametrize(("bad", "fragments"), BAD_LINES)
def test_a_bad_line_is_reported_and_the_good_lines_around_it_still_come_through(
    bad: bytes, fragments: list[str]
) -> None:
    tickets, errors = parse_jsonl(jsonl(good("T-1"), bad, good("T-3")), SOURCE)
    assert [(p.ticket.ticket_id, p.line) for p in tickets] == [("T-1", 1), ("T-3", 3)]
    assert errors, "the bad line must be reported"
    assert all(e.source == SOURCE and e.line == 2 for e in errors)
    assert all(str(e).startswith(f"{SOURCE}:2: ") for e in errors)
    reported = " | ".join(str(e) for e in errors)
    for fragment in fragments:
        assert fragment in reported


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ticket_id": "T-2", "subject": "Hi"}, "body"),
        ({"ticket_id": "T-2", "body": "Help"}, "subject"),
    ],
)
def test_a_missing_field_is_the_only_problem_reported_when_the_id_is_given(
    fields: dict[str, str], field: str
) -> None:
    _, errors = parse_jsonl(line(**fields), SOURCE)
    assert [e.message for e in errors] == [f"field '{field}' is missing"]


def test_a_line_without_id_or_body_is_reported_only_for_the_missing_body() -> None:
    _, errors = parse_jsonl(line(subject="Hi"), SOURCE)
    assert [e.message for e in errors] == ["field 'body' is missing"]


def test_every_problem_on_one_line_is_reported() -> None:
    data = line(ticket_id="T-1", subject="Hi", body="", tier="gold", channel="fax")
    _, errors = parse_jsonl(data, SOURCE)
    messages = [e.message for e in errors]
    assert len(messages) == 3
    assert any("'body' is empty" in m for m in messages)
    assert any("'tier'" in m for m in messages)
    assert any("channel" in m for m in messages)


def test_a_duplicate_ticket_id_names_the_line_it_first_appeared_on() -> None:
    data = jsonl(good("T-1"), good("T-2"), good("T-1", channel="web"))
    tickets, errors = parse_jsonl(data, SOURCE)
    assert [(p.ticket.ticket_id, p.line) for p in tickets] == [("T-1", 1), ("T-2", 2)]
    assert tickets[0].ticket.channel is Channel.EMAIL  # the first one is kept
    assert [str(e) for e in errors] == [f"{SOURCE}:3: ticket T-1 already appears on line 1"]


def test_the_same_ticket_twice_without_an_id_is_a_duplicate() -> None:
    same = line(subject="Locked out", body="Cannot log in.")
    tickets, errors = parse_jsonl(jsonl(same, same), SOURCE)
    assert len(tickets) == 1
    assert len(errors) == 1
    assert errors[0].line == 2
    assert "already appears on line 1" in errors[0].message


# ---- files ---------------------------------------------------------------------------------------


def test_a_file_is_read_with_its_path_as_the_source(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(jsonl(good("T-1"), b"[]"))
    tickets, errors = read_jsonl(path)
    assert [(p.ticket.ticket_id, p.source) for p in tickets] == [("T-1", str(path))]
    assert [str(e) for e in errors] == [
        f"{path}:2: expected a JSON object, got list (JSON Lines: one object a line)"
    ]


def test_a_missing_file_gives_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.jsonl"
    tickets, errors = read_jsonl(path)
    assert tickets == []
    assert errors == [
        InputError(str(path), None, "cannot read the file: No such file or directory")
    ]
    assert str(errors[0]) == f"{path}: cannot read the file: No such file or directory"


@pytest.mark.parametrize("content", [b"", b"\n\n   \n"], ids=["empty", "only-blank-lines"])
def test_a_file_without_tickets_gives_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    tickets, errors = read_jsonl(path)
    assert tickets == []
    assert [str(e) for e in errors] == [f"{path}: the file holds no tickets"]


def test_a_file_of_only_bad_lines_reports_them_rather_than_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"{nope\n")
    tickets, errors = read_jsonl(path)
    assert tickets == []
    assert len(errors) == 1
    assert errors[0].line == 1
    assert "not valid JSON" in errors[0].message


# ---- ticket_from_mapping -------------------------------------------------------------------------


def test_a_mapping_becomes_a_ticket() -> None:
    ticket, problems = ticket_from_mapping(
        {"id": "T-1", "subject": " Hi\nthere ", "body": "Help", "channel": "api"}
    )
    assert problems == []
    assert ticket is not None
    assert ticket.ticket_id == "T-1"
    assert ticket.subject == "Hi there"
    assert ticket.channel is Channel.API


def test_a_null_field_counts_as_absent() -> None:
    ticket, problems = ticket_from_mapping(
        {"ticket_id": "T-1", "subject": "Hi", "body": "Help", "channel": None, "customer": None}
    )
    assert problems == []
    assert ticket is not None
    assert ticket.channel is Channel.EMAIL
    assert ticket.customer_id is None


def test_an_empty_optional_column_counts_as_absent_as_null_does() -> None:
    """A CSV export's empty columns: "" was refused as an address, a tier and a channel, and an
    empty alias beside the customer id was "given twice"."""
    plain, problems = ticket_from_mapping({"subject": "Hi", "body": "Help", "customer_id": "C-1"})
    assert problems == [] and plain is not None
    exported, problems = ticket_from_mapping(
        {
            "subject": "Hi",
            "body": "Help",
            "customer_id": "C-1",
            "customer": "",
            "customer_email": "",
            "tier": " ",
            "channel": "",
        }
    )
    assert problems == []
    assert exported == plain  # the same ticket: its derived id and every field
    # Spaces alone are still no customer's id, and a required field is still required.
    assert ticket_from_mapping({"subject": "Hi", "body": "Help", "customer_id": " "})[1] == [
        "field 'customer_id' is only spaces: give the customer's id, or leave the field out"
    ]
    assert ticket_from_mapping({"subject": "", "body": "Help"})[1] == ["field 'subject' is empty"]


def test_an_empty_id_column_is_derived_as_a_left_out_one() -> None:
    # A spreadsheet's empty id column refused every such row, from the file and the API alike.
    derived, problems = ticket_from_mapping({"subject": "Hi", "body": "Help", "customer": "C-1"})
    assert problems == [] and derived is not None
    for blank in ("", "   "):
        for field in ("id", "ticket_id"):
            ticket, problems = ticket_from_mapping(
                {field: blank, "subject": "Hi", "body": "Help", "customer": "C-1"}
            )
            assert problems == [] and ticket == derived, (field, blank)
    # Beside the other spelling with an id, the empty one is no second id.
    given, problems = ticket_from_mapping(
        {"id": "", "ticket_id": "X1", "subject": "Hi", "body": "Help"}
    )
    assert problems == [] and given is not None and given.ticket_id == "X1"


def test_a_swarm_items_empty_text_column_leaves_its_other_text_field_read() -> None:
    items, errors = parse_swarm_items(
        jsonl(
            b'{"text": "", "review": "Great product"}',
            b'{"text": "   ", "body": "It broke"}',
            b'{"text": "", "review": " "}',
        ),
        "reviews.jsonl",
    )
    assert [i.text for i in items] == ["Great product", "It broke"]
    # With every text field blank it is still refused, naming the first.
    assert [(e.line, e.message) for e in errors] == [(3, "field 'text' is missing or empty")]


def test_a_mapping_without_an_id_gets_the_derived_id() -> None:
    ticket, problems = ticket_from_mapping({"subject": "Hi", "body": "Help", "customer": "C-1"})
    assert problems == []
    assert ticket is not None
    assert ticket.ticket_id == derive_ticket_id("Hi", "Help", "C-1")


def test_unknown_fields_are_each_named_in_one_problem_and_no_ticket_is_made() -> None:
    ticket, problems = ticket_from_mapping(
        {"subject": "Hi", "body": "Help", "priority": "High", "owner": "me"}
    )
    assert ticket is None
    assert len(problems) == 1
    assert problems[0].startswith("unknown fields 'priority', 'owner' (known: ")
    assert "ticket_id (or id), subject, body, customer_id (or customer)" in problems[0]


def test_an_overlong_customer_id_states_its_limit() -> None:
    ticket, problems = ticket_from_mapping(
        {"ticket_id": "T-1", "subject": "Hi", "body": "Help", "customer_id": "c" * 129}
    )
    assert ticket is None
    assert problems == ["field 'customer_id' is 129 characters; the limit is 128"]


def test_an_overlong_text_is_measured_as_the_limit_measures_it() -> None:
    """The limit is on the text as kept (the body's ends stripped, the subject's spaces
    collapsed): 500 trailing spaces were counted, and the body said 501 over where 1 was."""
    body = ticket_from_mapping({"subject": "Hi", "body": "a" * 20_001 + " " * 500})[1]
    assert body == ["field 'body' is 20,001 characters; the limit is 20,000"]
    subject = ticket_from_mapping({"subject": "s " * 150, "body": "Help"})[1]
    assert subject == ["field 'subject' is 299 characters; the limit is 200"]


@pytest.mark.parametrize("given", ["c1\nc2", "c1\t", "\x1b[31mc1", "c\x851", "c1\u2028"])
def test_a_customer_id_with_a_control_character_is_refused_by_name(given: str) -> None:
    """A line break or an escape in a customer id split the CLI's tables and log lines, and
    `erase --customer` could not be given it. The other fields' problems are named with it."""
    ticket, problems = ticket_from_mapping({"ticket_id": "T-1", "subject": "Hi", "body": " ",
                                            "customer": given})  # fmt: skip
    assert ticket is None
    assert problems[0].startswith("field 'customer' holds a control character (")
    assert problems[0].endswith(": an id is one line without tabs or escapes")
    assert problems[1:] == ["field 'body' is empty"]


def test_a_customer_id_is_kept_as_given_so_a_ticket_sent_again_finds_its_first() -> None:
    """Its spaces are part of the ticket's identity: its derived id and its content digest, by
    which a ticket sent again is the one already started, not a conflict."""
    line = {"subject": "Hi", "body": "Help", "customer": " C-1 "}
    ticket, problems = ticket_from_mapping(line)
    assert problems == [] and ticket is not None and ticket.customer_id == " C-1 "
    assert ticket.ticket_id == derive_ticket_id("Hi", "Help", " C-1 ")
    again, _ = ticket_from_mapping(dict(line))
    assert again is not None and content_digest(again) == content_digest(ticket)
    # A NUL is dropped, as before (the ticket model's rule), not refused.
    nul, problems = ticket_from_mapping({"ticket_id": "T-3", "subject": "Hi", "body": "Help",
                                         "customer": "C\x00-1"})  # fmt: skip
    assert problems == [] and nul is not None and nul.customer_id == "C-1"


def test_an_empty_customer_id_is_none_and_only_spaces_is_refused() -> None:
    line = {"subject": "Hi", "body": "Help", "customer": ""}
    empty, problems = ticket_from_mapping(line)
    assert problems == [] and empty is not None and empty.customer_id is None
    # As before, so a line sent again finds its ticket: the same derived id and digest.
    assert empty.ticket_id == derive_ticket_id("Hi", "Help", "")
    assert content_digest(empty) == content_digest(empty.model_copy(update={"customer_id": ""}))
    spaces, problems = ticket_from_mapping({**line, "customer": "   "})
    assert spaces is None
    assert problems == [
        "field 'customer' is only spaces: give the customer's id, or leave the field out"
    ]


def test_tier_and_channel_are_read_in_any_case() -> None:
    ticket, problems = ticket_from_mapping(
        {"ticket_id": "T-1", "subject": "Hi", "body": "Help", "tier": " Premium", "channel": "CHAT"}
    )
    assert problems == [] and ticket is not None
    assert (ticket.customer_tier, ticket.channel) == (CustomerTier.PREMIUM, Channel.CHAT)
    _, [problem] = ticket_from_mapping({"ticket_id": "T-2", "subject": "Hi", "body": "Help",
                                        "tier": "Gold"})  # fmt: skip
    assert problem.endswith("(got 'Gold')")


def test_a_byte_order_mark_at_the_start_of_a_file_is_accepted() -> None:
    tickets, errors = parse_jsonl(b"\xef\xbb\xbf" + jsonl(good("T-bom")), SOURCE)
    assert errors == [] and [p.ticket.ticket_id for p in tickets] == ["T-bom"]


# ---- customer e-mail -----------------------------------------------------------------------------


def test_a_customer_email_is_read_under_either_name_and_trimmed() -> None:
    tickets, errors = parse_jsonl(
        jsonl(
            good("T-1", customer_email=" ana@example.com "),
            good("T-2", email="bo@example.org"),
            good("T-3"),
        ),
        SOURCE,
    )
    assert errors == []
    assert [p.ticket.customer_email for p in tickets] == [
        "ana@example.com",
        "bo@example.org",
        None,
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not-an-address", "field 'customer_email' must be one address like name@example.com"),
        ("a@b.com\nBcc: everyone@example.com", "must be one address"),
        ("a@b.com, c@d.com", "must be one address"),
        ("x" * 250 + "@b.com", "field 'customer_email' is 256 characters; the limit is 254"),
    ],
)
def test_a_bad_customer_email_is_reported_with_line_and_field(value: str, message: str) -> None:
    tickets, errors = parse_jsonl(jsonl(good("T-1"), good("T-2", customer_email=value)), SOURCE)
    assert [p.ticket.ticket_id for p in tickets] == ["T-1"]
    assert len(errors) == 1 and errors[0].line == 2 and message in errors[0].message


def test_a_field_given_twice_in_a_line_is_refused_not_the_last_one_taken() -> None:
    """{"id": "BI-56", ..., "id": "BI-57"} was submitted as BI-57 without a word."""
    data = b'{"id": "BI-56", "subject": "a", "body": "b", "id": "BI-57"}\n'
    data += b'{"subject": "c", "body": "d"}\n'
    tickets, errors = parse_jsonl(data, "t.jsonl")
    assert [str(e) for e in errors] == ["t.jsonl:1: the name 'id' is given twice in one object"]
    assert [t.ticket.subject for t in tickets] == ["c"]


def test_a_pretty_printed_json_list_is_told_that_json_lines_are_expected() -> None:
    tickets, errors = parse_jsonl(b'[\n  {"subject": "a", "body": "b"}\n]\n', "t.jsonl")
    assert [t.line for t in tickets] == [2]  # a line that is an object is one all the same
    assert [e.line for e in errors] == [1, 3]
    assert str(errors[0]).endswith(
        "; expected JSON Lines: one ticket object a line, not a JSON list"
    )


def test_a_tickets_content_names_its_address_when_it_has_no_customer_id() -> None:
    # As the derived id does: the same words from two addresses are two tickets.
    alice = Ticket(ticket_id="1001", subject="Reset", body="I cannot log in",
                   customer_email="alice@a.example")  # fmt: skip
    bob = alice.model_copy(update={"customer_email": "bob@b.example"})
    assert content_digest(alice) != content_digest(bob)
    assert content_digest(alice) == content_digest(
        alice.model_copy(update={"customer_email": "ALICE@a.example "})
    )
    # A customer id decides alone, as before (its digest unchanged).
    known = alice.model_copy(update={"customer_id": "C-1"})
    assert content_digest(known) == content_digest(
        known.model_copy(update={"customer_email": None})
    )
    # A memo written before the address counted (no "v2:") still reads as the same ticket.
    before = content_digest(alice.model_copy(update={"customer_email": None}))[len("v2:") :]
    assert same_content(before, alice) and same_content(content_digest(alice), alice)
    assert not same_content(content_digest(bob), alice)
    # A new ticket without an address is not the same words from an address later (both of
    # its digests' forms were the digest of no customer: a review of the change, 2026-12-07).
    nobody = alice.model_copy(update={"customer_email": None})
    assert not same_content(content_digest(nobody), bob)
