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
