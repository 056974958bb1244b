"""What intake answers when a request is bad in size or shape, over real HTTP: refusals bounded
whatever the input, bodies that are not JSON named for what they are, and an e-mail too long
only because of the thread it quotes taken without that thread."""

import json

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from api.routes.intake import MAX_PROBLEMS_PER_RESPONSE
from shared.operation_errors import TicketNotFound
from shared.ticket_input import MAX_PROBLEMS_PER_ITEM, MAX_UNKNOWN_NAMED
from shared.tickets import MAX_BODY_CHARS, Ticket
from tests.api.helpers import unique_id, urgent_ticket
from tests.support.api_server import Tokens, bearer

JSON = {"Content-Type": "application/json"}


async def test_an_object_of_a_hundred_thousand_unknown_keys_is_refused_in_a_few_lines(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # One unknown key, one problem repeating every known field: 110,000 keys made 17.7 MB.
    keys = {f"{i:x}": 1 for i in range(110_000)}
    body = json.dumps(keys, separators=(",", ":")).encode()
    assert len(body) < 1024 * 1024  # under the body limit: the refusal is the problem

    response = await http.post("/tickets", headers=bearer(tokens.submit) | JSON, content=body)

    assert response.status_code == 422, response.text[:300]
    assert len(response.content) < 2_000
    [problem] = response.json()["problems"]
    assert problem.startswith("item 0: unknown fields '0', '1', '2', '3', '4' and 109,995 more")
    assert problem.count("known: ticket_id (or id), subject") == 1


async def test_a_list_of_bad_items_names_a_bounded_number_of_problems_each_and_in_all(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # Each item: many unknown keys, aliases given twice and values of the wrong kind.
    bad = {
        "id": "x",
        "ticket_id": "y",
        "customer": 1,
        "customer_id": 2,
        "tier": "gold",
        "customer_tier": "free",
        **{f"k{i}-{'z' * 100}": i for i in range(40)},
    }
    good = {"id": unique_id(), "subject": "Password", "body": "The reset e-mail never arrives."}
    items = [bad] * 99

    refused = await http.post("/tickets", headers=bearer(tokens.submit), json=items)
    mixed = await http.post("/tickets", headers=bearer(tokens.submit), json=[*items, good])

    assert refused.status_code == 422
    problems = refused.json()["problems"]
    assert len(problems) == MAX_PROBLEMS_PER_RESPONSE
    assert problems[-1].startswith("and ") and problems[-1].endswith(" more problems")
    # The first item's own: its unknown keys in one problem (cut short), then the rest.
    assert problems[0].startswith("item 0: unknown fields 'k0-zzz")
    assert f"and {40 - MAX_UNKNOWN_NAMED} more (known:" in problems[0]
    assert "z" * 100 not in problems[0]
    assert problems[1] == "item 0: field 'ticket_id' is given twice (as 'id' and 'ticket_id')"
    assert mixed.status_code == 202
    answer = mixed.json()
    assert [a["index"] for a in answer["accepted"]] == [99]
    assert len(answer["refused"]) == 99
    named = [p for r in answer["refused"] for p in r["problems"]]
    assert all(len(r["problems"]) <= MAX_PROBLEMS_PER_ITEM for r in answer["refused"])
    # Every item is listed as refused; past the budget without its problems.
    assert len(named) <= MAX_PROBLEMS_PER_RESPONSE + len(answer["refused"])
    assert "its problems are not named here" in answer["refused"][-1]["problems"][0]
    assert len(mixed.content) < 60_000


async def test_a_body_not_sent_as_json_is_refused_naming_the_content_type_to_send(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket = b'{"subject": "Password", "body": "The reset e-mail never arrives."}'
    as_text = await http.post(
        "/tickets",
        headers=bearer(tokens.submit) | {"Content-Type": "text/plain"},
        content=ticket,
    )
    as_form = await http.post(
        f"/tickets/{unique_id()}/review",
        headers=bearer(tokens.review),
        data={"action": "approve", "revision": "1"},
    )

    for response in (as_text, as_form):
        assert response.status_code == 415, response.text
        assert "send JSON with Content-Type: application/json" in response.json()["message"]
        assert "dict[str,any]" not in response.text
    assert "sent as 'text/plain'" in as_text.json()["message"]


async def test_json_that_cannot_be_parsed_is_named_for_what_is_wrong_with_it(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = bearer(tokens.submit) | JSON
    deep = await http.post("/tickets", headers=headers, content=b"[" * 100_000 + b"]" * 100_000)
    long_number = await http.post(
        "/tickets", headers=headers, content=b'{"id": ' + b"7" * 5_000 + b"}"
    )
    not_utf8 = await http.post("/tickets", headers=headers, content=b'{"subject": "Caf\xe9"}')
    # json.loads reads these too, and the API took them.
    wide = [
        await http.post("/tickets", headers=headers, content=json.dumps(ticket).encode(codec))
        for ticket in [urgent_ticket(unique_id())]
        for codec in ("utf-16", "utf-16-le", "utf-32", "utf-32-be")
    ]
    cut_short = await http.post("/tickets", headers=headers, content=b'{"subject": ')

    assert deep.status_code == long_number.status_code == not_utf8.status_code == 400
    assert [(w.status_code, w.json()["message"][:24]) for w in wide] == [
        (400, "the request body is not ")  # UTF-8 (a byte order mark), or valid JSON (a NUL)
    ] * 4
    assert "nests arrays or objects too deeply" in deep.json()["message"]
    assert "a number in it has more digits than the API reads" in long_number.json()["message"]
    assert (
        not_utf8.json()["message"] == "the request body is not UTF-8 (byte 17 is not valid there)"
    )
    assert cut_short.status_code == 400
    assert cut_short.json()["message"] == (
        "the request body is not valid JSON: Expecting value (at character 13)"
    )


async def test_a_body_that_names_a_field_twice_is_refused_and_nothing_is_started(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    first, second = unique_id(), unique_id()
    ticket = json.dumps(urgent_ticket(first))[:-1] + f', "id": "{second}"}}'
    nested = json.dumps(urgent_ticket(unique_id()) | {"metadata": {"a": 1}}).replace(
        '"a": 1', '"a": 1, "a": 2'
    )
    long_name = '{"' + "n" * 5_000 + '": 1, "' + "n" * 5_000 + '": 2}'
    review = '{"action": "approve", "revision": 1, "action": "reject"}'

    headers = bearer(tokens.submit) | JSON
    answers = [
        await http.post("/tickets", headers=headers, content=body)
        for body in (ticket, nested, long_name)
    ]
    reviewed = await http.post(
        f"/tickets/{first}/review", headers=bearer(tokens.review) | JSON, content=review
    )
    looked_up = [
        await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.read))
        for ticket_id in (first, second)
    ]

    # json would keep the last: the ticket would have been started as `second`, unannounced.
    for answer in [*answers, reviewed]:
        assert answer.status_code == 400, answer.text
    assert [a.json()["message"] for a in answers[:2]] == [
        "the request body names 'id' twice in one object; give each field once",
        "the request body names 'a' twice in one object; give each field once",
    ]
    assert answers[2].json()["message"] == (
        f"the request body names {'n' * 40!r} twice in one object; give each field once"
    )
    assert "'action' twice" in reviewed.json()["message"]
    assert [r.status_code for r in looked_up] == [404, 404]


async def test_a_list_item_that_names_a_field_twice_is_refused_alone(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # The whole list was refused (400, naming no item): the valid tickets beside it waited for
    # a client to find which of its items was the one. Now that item alone, by its index.
    good, first, second = unique_id(), unique_id(), unique_id()
    twice = json.dumps(urgent_ticket(first))[:-1] + f', "id": "{second}"}}'
    nested = json.dumps(urgent_ticket(unique_id()) | {"metadata": {"a": 1}}).replace(
        '"a": 1', '"a": 1, "a": 2'
    )

    async def post_items(*items: str) -> httpx.Response:
        body = "[" + ", ".join(items) + "]"
        return await http.post("/tickets", headers=bearer(tokens.submit) | JSON, content=body)

    answer = await post_items(json.dumps(urgent_ticket(good)), twice)
    beside = unique_id()
    deeper = await post_items(json.dumps(urgent_ticket(beside)), nested)

    assert answer.status_code == 202, answer.text
    assert [a["ticket_id"] for a in answer.json()["accepted"]] == [good]
    assert answer.json()["refused"] == [
        {"index": 1, "problems": ["'id' is given twice in this item; give each field once"]}
    ]
    for ticket_id in (first, second):
        looked_up = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.read))
        assert looked_up.status_code == 404
    # An item that is no object is refused alone, a repeat inside it or not (one inside a list
    # refused the whole request, 400).
    listed = unique_id()
    in_an_array = await post_items(json.dumps(urgent_ticket(listed)), '[{"a": 1, "a": 2}]')
    assert in_an_array.status_code == 202, in_an_array.text
    assert [a["ticket_id"] for a in in_an_array.json()["accepted"]] == [listed]
    assert [r["index"] for r in in_an_array.json()["refused"]] == [1]
    # Inside an item's own fields, that item alone too (the whole request was refused, 400).
    assert deeper.status_code == 202, deeper.text
    assert [a["ticket_id"] for a in deeper.json()["accepted"]] == [beside]
    assert deeper.json()["refused"] == [
        {"index": 1, "problems": ["'a' is given twice in this item; give each field once"]}
    ]


async def test_an_email_too_long_only_for_the_thread_it_quotes_becomes_a_ticket_without_it(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    reply = "My invoice for March is missing.\nCan you send it again?"
    thread = "On Mon, 3 Mar 2025 at 10:00, Support <support@example.com> wrote:\n" + (
        "> Here is the invoice you asked for last month.\n" * 1_000
    )
    email = {"from": "ana@example.com", "subject": "Invoice", "message_id": f"<{unique_id()}@x>"}
    assert len(reply + "\n\n" + thread) > MAX_BODY_CHARS

    quoted = await http.post(
        "/tickets/email",
        headers=bearer(tokens.submit),
        json=email | {"text": reply + "\n\n" + thread},
    )
    too_long = await http.post(
        "/tickets/email",
        headers=bearer(tokens.submit),
        json=email | {"text": "x" * (MAX_BODY_CHARS + 1), "message_id": f"<{unique_id()}@x>"},
    )

    assert quoted.status_code == 202, quoted.text[:300]
    ticket_id = quoted.json()["accepted"][0]["ticket_id"]
    read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
    assert read.json()["message"]["body"] == reply
    # A reply still too long without its quote is refused, never cut.
    assert too_long.status_code == 422
    assert "field 'text' is 20,001 characters; the limit is 20,000" in too_long.json()["message"]


async def test_an_email_reply_is_measured_with_one_character_a_line_break(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    """Mail's CRLF counted two: a reply of 19,866 characters was refused as 20,124 when sent
    alone, and accepted when a quoted thread below it made the cut to LF line breaks."""
    reply = "\r\n".join(["y" * 76] * 258)
    assert len(reply) > MAX_BODY_CHARS >= len(reply.replace("\r\n", "\n"))
    sent = await http.post(
        "/tickets/email",
        headers=bearer(tokens.submit),
        json={"from": "ana@example.com", "subject": "Long", "text": reply},
    )
    assert sent.status_code == 202, sent.text[:300]
    ticket_id = sent.json()["accepted"][0]["ticket_id"]
    read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
    assert read.json()["message"]["body"] == reply.replace("\r\n", "\n")


async def test_a_body_of_the_wrong_shape_is_told_what_to_send(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    """Pydantic's way named its own types: "field 'dict[str,any]': Input should be a valid
    dictionary; field 'list[any]': ...", and an empty body was "Field required"."""
    headers = bearer(tokens.submit) | JSON
    cases = [
        ("/tickets", b"42", "the request body is a number; send one ticket object, or a list"),
        ("/tickets", b"null", "the request body is empty (or null); send one ticket object"),
        ("/tickets", b"", "the request body is empty (or null); send one ticket object"),
        ("/tickets/email", b"[]", 'the request body is a list; send one e-mail object: {"from"'),
        ("/tickets/T-1/review", b'"approve"', "the request body is text; send one review object"),
    ]
    for path, body, message in cases:
        headers_for = bearer(tokens.review) | JSON if "review" in path else headers
        response = await http.post(path, headers=headers_for, content=body)
        assert response.status_code == 422, (path, response.text[:300])
        assert response.json()["message"].startswith(message), (path, response.json())
        assert "dict[" not in response.text and "list[" not in response.text


async def test_an_email_with_no_sender_is_refused(http: httpx.AsyncClient, tokens: Tokens) -> None:
    """It was accepted as a ticket with no customer and nowhere for an answer to go."""
    for sender in ("", "   "):
        email = {"from": sender, "subject": "Invoice", "text": "Where is it?"}
        response = await http.post("/tickets/email", headers=bearer(tokens.submit), json=email)
        assert response.status_code == 422, response.text[:300]
        assert "field 'from': is empty: the sender is the ticket's customer" in response.text


@pytest.mark.parametrize(
    "sender", ["Ana <jane.doe@example.com.>", "ana@example..com", "Ana <=?utf-8?q?a=40b.c?=@x.io>"]
)
async def test_an_email_from_an_address_no_answer_can_go_to_is_refused_naming_from(
    http: httpx.AsyncClient, tokens: Tokens, sender: str
) -> None:
    # A review (2026-12-07): intake took it with no address to answer (its agents ran, then
    # the answer by e-mail failed for good); files and the ticket route refused it already.
    email = {"from": sender, "subject": "Invoice", "text": "Where is it?"}
    response = await http.post("/tickets/email", headers=bearer(tokens.submit), json=email)
    assert response.status_code == 422, response.text[:300]
    assert response.json()["problems"][0].startswith("field 'from' ")
    # A sender with no address at all is still the customer, as before.
    plain = {"from": "Ana Lima", "subject": "Invoice", "text": f"Where is it? {sender}"}
    kept = await http.post("/tickets/email", headers=bearer(tokens.submit), json=plain)
    assert kept.status_code == 202, kept.text[:300]


async def test_one_items_failed_start_refuses_that_item_and_keeps_the_others(
    http: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server failing one start (not retried by the SDK) answered the whole request with
    # that error while the other tickets had started: a client taking a 400 for final never
    # learnt the ids it had submitted.
    from shared import operations

    real = operations.start_ticket
    failing = unique_id()

    async def start(client: object, ticket: Ticket, **kwargs: object) -> object:
        if ticket.ticket_id == failing:
            raise RPCError("the server refused this start", RPCStatusCode.INVALID_ARGUMENT, b"")
        return await real(client, ticket, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(operations, "start_ticket", start)
    items = [
        {"id": unique_id(), "subject": "Invoice", "body": "Where is my March invoice?"},
        {"id": failing, "subject": "Password", "body": "The reset e-mail never arrives."},
        {"id": unique_id(), "subject": "Refund", "body": "Please refund the duplicate charge."},
    ]

    answer = await http.post("/tickets", headers=bearer(tokens.submit), json=items)
    alone = await http.post("/tickets", headers=bearer(tokens.submit), json=[items[1]])

    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert [a["index"] for a in body["accepted"]] == [0, 2]
    [refused] = body["refused"]
    assert refused["index"] == 1
    # An intake-only token gets no server's words, and a reference to the API's log.
    assert refused["problems"][0].startswith("not started: the ticket service could not take it")
    assert "submit it again" in refused["problems"][0]
    assert alone.status_code == 400  # one item alone still answers its own error


async def test_a_failed_start_beside_only_collisions_answers_its_own_status(
    http: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing taken: a 409 for the collision beside it was read as final, though the failed
    # start's own answer (503) says to try again.
    from shared import operations

    real = operations.start_ticket
    taken_id, failing = unique_id(), unique_id()
    first = {"id": taken_id, "subject": "Invoice", "body": "Where is my March invoice?"}
    assert (
        await http.post("/tickets", headers=bearer(tokens.submit), json=first)
    ).status_code == 202

    async def start(client: object, ticket: Ticket, **kwargs: object) -> object:
        if ticket.ticket_id == failing:
            raise RPCError("the server is unavailable", RPCStatusCode.UNAVAILABLE, b"")
        return await real(client, ticket, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(operations, "start_ticket", start)
    items = [
        {"id": taken_id, "subject": "Other", "body": "Another ticket under the same id."},
        {"id": failing, "subject": "Password", "body": "The reset e-mail never arrives."},
    ]

    answer = await http.post("/tickets", headers=bearer(tokens.submit), json=items)

    assert answer.status_code == 503, answer.text


@pytest.mark.parametrize(
    ("final", "status"),
    [
        (RPCError("the server refused this start", RPCStatusCode.INVALID_ARGUMENT, b""), 400),
        # The ended run that held its id gone between the look-up and the start.
        (TicketNotFound("no ticket with that id"), 404),
    ],
    ids=["refused", "not-found"],
)
async def test_when_every_start_fails_the_answer_is_one_a_client_retries_if_any_is(
    http: httpx.AsyncClient,
    tokens: Tokens,
    monkeypatch: pytest.MonkeyPatch,
    final: Exception,
    status: int,
) -> None:
    # The first item's 4xx answered for the whole request, and a client that took it as final
    # dropped the second item too, whose start failed only for the server being away.
    from shared import operations

    refused_id, away_id = unique_id(), unique_id()

    async def start(client: object, ticket: Ticket, **kwargs: object) -> object:
        if ticket.ticket_id == refused_id:
            raise final
        raise RPCError("the server is unavailable", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(operations, "start_ticket", start)
    items = [
        {"id": refused_id, "subject": "Password", "body": "The reset e-mail never arrives."},
        {"id": away_id, "subject": "Invoice", "body": "Where is my March invoice?"},
    ]

    answer = await http.post("/tickets", headers=bearer(tokens.submit), json=items)
    refused_alone = await http.post("/tickets", headers=bearer(tokens.submit), json=items[:1])

    assert answer.status_code == 503, answer.text
    assert refused_alone.status_code == status, refused_alone.text


async def test_a_repeated_name_no_utf_8_can_hold_is_refused_alone(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # "\ud800" twice in an item: its message quoted the lone surrogate, the answer could not
    # be encoded, and the client got a 500 after the valid ticket beside it had started (a
    # review, 2026-12-07); every retry did the same.
    good = unique_id()
    body = "[" + json.dumps(urgent_ticket(good)) + ', {"\\ud800": 1, "\\ud800": 2}]'

    answer = await http.post("/tickets", headers=bearer(tokens.submit) | JSON, content=body)

    assert answer.status_code == 202, answer.text
    assert [a["ticket_id"] for a in answer.json()["accepted"]] == [good]
    assert answer.json()["refused"] == [
        {"index": 1, "problems": ["'\\ud800' is given twice in this item; give each field once"]}
    ]


async def test_a_review_of_many_long_unknown_fields_is_refused_in_a_bounded_answer(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # A review (2026-12-07): the review route named every unknown field whole, so its 422 was
    # as long as the body (800 KB in, 862 KB out); intake's are bounded.
    review = {"action": "approve", "revision": 1}
    long_names = {f"{i:03d}" + "x" * 20_000: 1 for i in range(40)}
    many_names = {f"k{i}": 1 for i in range(5_000)}
    answers = [
        await http.post(
            "/tickets/T-NO-SUCH/review",
            headers=bearer(tokens.review) | JSON,
            content=json.dumps(review | extra).encode(),
        )
        for extra in (long_names, many_names)
    ]

    for answer in answers:
        assert answer.status_code == 422, answer.text[:300]
        assert len(answer.content) < 20_000, len(answer.content)
    long_problems = answers[0].json()["problems"]
    assert len(long_problems) == 40
    assert all(p.startswith("field '0") and "x" * 40 not in p for p in long_problems)
    many_problems = answers[1].json()["problems"]
    assert len(many_problems) == 101 and many_problems[-1] == "and 4,900 more"
