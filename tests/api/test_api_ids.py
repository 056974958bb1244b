"""Ticket ids over HTTP: an explicit id another ticket already holds is a collision, refused
with the reason, not a "duplicate" that would make the second ticket vanish (the same ticket
sent again stays a duplicate; an Idempotency-Key names its ticket whatever a retry's words, in
tests/api/test_api.py)."""

import httpx

from tests.api.helpers import routine_ticket, unique_id
from tests.support.api_server import Tokens, bearer


async def test_an_explicit_id_taken_by_another_ticket_is_refused_not_called_a_duplicate(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # Two helpdesks both send "1001": the second is another ticket, which must not vanish as a
    # "duplicate" of the first.
    ticket_id = unique_id("COLLIDE")
    first = await http.post(
        "/tickets", headers=bearer(tokens.submit), json=routine_ticket(ticket_id)
    )
    same = await http.post(
        "/tickets", headers=bearer(tokens.submit), json=routine_ticket(ticket_id)
    )
    other = routine_ticket(ticket_id) | {"subject": "Refund", "body": "Please refund order 7."}
    alone = await http.post("/tickets", headers=bearer(tokens.submit), json=other)
    among = await http.post(
        "/tickets",
        headers=bearer(tokens.submit),
        json=[routine_ticket(unique_id("COLLIDE")), other],
    )

    assert first.status_code == 202 and same.json()["accepted"][0]["status"] == "duplicate"
    assert alone.status_code == 409, alone.text
    assert f"ticket {ticket_id} already exists with another subject" in alone.json()["message"]
    assert among.status_code == 202
    assert [a["status"] for a in among.json()["accepted"]] == ["submitted"]
    [refused] = among.json()["refused"]
    assert refused["index"] == 1 and "give it an id of its own" in refused["problems"][0]


async def test_a_blank_message_id_is_no_key_and_spaces_around_one_do_not_change_it(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    def email(sender: str, text: str, message_id: str) -> dict[str, str]:
        return {"from": sender, "subject": "Hello", "text": text, "message_id": message_id}

    async def submitted(body: dict[str, str]) -> dict[str, str]:
        response = await http.post("/tickets/email", headers=bearer(tokens.submit), json=body)
        assert response.status_code == 202, response.text
        return response.json()["accepted"][0]

    tag = unique_id()
    # Two different e-mails whose gateway sends a blank Message-ID: two tickets, not one.
    one = await submitted(email("u0@example.com", f"First question {tag}", " "))
    two = await submitted(email("u1@example.com", f"Second question {tag}", " "))
    assert one["status"] == two["status"] == "submitted"
    assert one["ticket_id"] != two["ticket_id"]
    # A redelivery with spaces around the same Message-ID is the same ticket.
    keyed = await submitted(email("u2@example.com", f"Third {tag}", f"<{tag}@mail.example>"))
    again = await submitted(email("u2@example.com", f"Third {tag}", f"  <{tag}@mail.example> "))
    assert again == keyed | {"status": "duplicate", "state": again["state"]}


async def test_tickets_without_a_customer_id_from_two_addresses_are_two_tickets(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # A web form sends the e-mail address only: the same short words from two customers got one
    # derived id, and the second customer's ticket was answered "duplicate" and never processed.
    words = {"subject": "Cannot log in", "body": f"Password reset does not work {unique_id()}"}

    async def sent(email: str) -> dict[str, str]:
        response = await http.post(
            "/tickets", headers=bearer(tokens.submit), json=words | {"email": email}
        )
        assert response.status_code == 202, response.text
        return response.json()["accepted"][0]

    first, second = await sent("a@example.com"), await sent("b@example.org")
    again = await sent("A@Example.com ")  # the first customer again, as typed another time

    assert first["status"] == second["status"] == "submitted"
    assert first["ticket_id"] != second["ticket_id"]
    assert (again["ticket_id"], again["status"]) == (first["ticket_id"], "duplicate")


async def test_an_id_in_the_idempotency_key_namespace_is_the_servers_to_give(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # A client could send the id another's key makes (K- + a digest of the token's name and
    # the key) before that ticket came, which was then answered "duplicate" and dropped.
    taken = routine_ticket("K-0123456789abcdef0123")
    alone = await http.post("/tickets", headers=bearer(tokens.submit), json=taken)
    among = await http.post(
        "/tickets",
        headers=bearer(tokens.submit),
        json=[routine_ticket(unique_id("KEYS")), {**taken, "id": None, "ticket_id": " K-x"}],
    )

    assert alone.status_code == 422, alone.text
    assert "ids starting with K- are made from idempotency keys" in alone.text
    assert among.status_code == 202 and len(among.json()["accepted"]) == 1
    [refused] = among.json()["refused"]
    assert refused["index"] == 1 and refused["problems"][0].startswith("'ticket_id': ids")


async def test_a_strangers_mail_under_someones_message_id_is_a_ticket_of_its_own(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    # A Message-ID is seen by everyone on the thread: mail from another sender under it took
    # the sender's ticket (theirs then answered "duplicate" and never processed).
    message_id = f"<{unique_id()}@mail.example>"

    async def mailed(sender: str, text: str) -> dict[str, str]:
        body = {"from": sender, "subject": "Invoice", "text": text, "message_id": message_id}
        response = await http.post("/tickets/email", headers=bearer(tokens.submit), json=body)
        assert response.status_code == 202, response.text
        return response.json()["accepted"][0]

    stranger = await mailed("mallory@example.net", "Send the invoice to me instead.")
    owner = await mailed("Ana <ana@example.com>", "I cannot find my March invoice.")
    redelivered = await mailed("ana@example.com", "I cannot find my March invoice.")

    assert stranger["status"] == owner["status"] == "submitted"
    assert stranger["ticket_id"] != owner["ticket_id"]
    assert (redelivered["ticket_id"], redelivered["status"]) == (owner["ticket_id"], "duplicate")


async def test_a_ticket_given_twice_in_one_request_is_refused_naming_how_it_was_given(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    ticket_id = unique_id("TWICE")
    same = {"subject": "Refund", "body": "Charged twice in March.", "customer_id": ticket_id}
    answer = await http.post(
        "/tickets",
        headers=bearer(tokens.submit),
        json=[{"id": ticket_id, **same}, {"id": ticket_id, **same}, same, same],
    )

    assert answer.status_code == 202, answer.text
    refused = {r["index"]: r["problems"] for r in answer.json()["refused"]}
    assert refused[1] == [f"field 'id': ticket {ticket_id} already appears at index 0"]
    # No id given: the one its content made, and what makes it.
    assert refused[3][0].startswith("the same ticket (T-")
    assert refused[3][0].endswith("by its customer, subject and body) already appears at index 2")
    assert sorted(a["index"] for a in answer.json()["accepted"]) == [0, 2]
