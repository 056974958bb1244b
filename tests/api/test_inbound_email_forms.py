"""What e-mail gateways send that the intake read wrongly (a review, 2026-12-08), each against the
API on the dev server: an HTML-only message (refused for good, and lost), a new Idempotency-Key
on each redelivery (two tickets for one message), a Message-ID with or without its angle
brackets (two tickets), a gateway's own "sender" member (the bounce address answered), an
encoded-word subject (the agents read base64), and two Idempotency-Key headers (the first taken
without a word)."""

import httpx
import pytest

from api.html_text import html_text
from tests.api.helpers import unique_id
from tests.support.api_server import Tokens, bearer

pytestmark = pytest.mark.api


async def _post(
    http: httpx.AsyncClient, tokens: Tokens, email: dict, **headers: str
) -> httpx.Response:  # type: ignore[type-arg]
    return await http.post("/tickets/email", headers=bearer(tokens.submit) | headers, json=email)


async def _read(http: httpx.AsyncClient, tokens: Tokens, ticket_id: str) -> dict:  # type: ignore[type-arg]
    read = await http.get(f"/tickets/{ticket_id}", headers=bearer(tokens.review))
    assert read.status_code == 200, read.text[:300]
    return read.json()["message"]  # type: ignore[no-any-return]


async def test_an_html_only_email_becomes_a_ticket_with_its_words(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    html = (
        "<html><head><style>p{color:red}</style></head><body>"
        "<p>I was <b>charged</b>&nbsp;twice.</p><p>Order 12</p></body></html>"
    )
    # Left out, empty, blank, or null (as gateways serialise a missing part).
    for text in ("left out", "", "  ", None):
        email = {"from": "ana@example.com", "subject": f"Refund {unique_id()}", "html": html}
        response = await _post(
            http, tokens, email if text == "left out" else email | {"text": text}
        )
        assert response.status_code == 202, response.text[:300]
        message = await _read(http, tokens, response.json()["accepted"][0]["ticket_id"])
        assert message["body"] == "I was charged twice.\n\nOrder 12"
    # An HTML part that shows no words is still no message, named as the gateway sent it.
    empty = await _post(http, tokens, {"from": "ana@example.com", "html": "<p> </p>"})
    assert empty.status_code == 422 and "field 'text' is empty" in empty.json()["message"]


async def test_a_message_redelivered_under_a_new_idempotency_key_is_the_same_ticket(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    mid = f"{unique_id()}@mail.example"
    email = {"from": "ana@example.com", "subject": "Refund", "text": "Charged twice."}
    first = await _post(http, tokens, email | {"message_id": f"<{mid}>"})
    keyed = await _post(
        http, tokens, email | {"message_id": f"<{mid}>"}, **{"Idempotency-Key": unique_id()}
    )
    bare = await _post(http, tokens, email | {"message_id": f" {mid} "})

    ids = {r.json()["accepted"][0]["ticket_id"] for r in (first, keyed, bare)}
    assert len(ids) == 1
    assert [r.json()["accepted"][0]["status"] for r in (keyed, bare)] == ["duplicate"] * 2


async def test_a_gateways_own_sender_member_does_not_stand_in_for_from(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    email = {
        "From": "Ana <ana@example.com>",
        "sender": "bounces+srs=x@relay.example",
        "subject": "Refund",
        "text": "Charged twice.",
    }
    response = await _post(http, tokens, email)
    assert response.status_code == 422, response.text[:300]
    assert "field 'from'" in response.json()["message"]


async def test_an_encoded_word_subject_is_read_as_its_words(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    email = {
        "from": "ana@example.com",
        "subject": "=?UTF-8?B?w4ljaGVjIGR1IHBhaWVtZW50?= " + unique_id(),
        "text": "Le paiement a échoué.",
    }
    response = await _post(http, tokens, email)
    assert response.status_code == 202, response.text[:300]
    message = await _read(http, tokens, response.json()["accepted"][0]["ticket_id"])
    assert message["subject"].startswith("Échec du paiement ")
    # One that does not decode (an unknown charset) stays as sent.
    odd = email | {"subject": "=?x-nope?B?w4k=?= " + unique_id()}
    kept = await _post(http, tokens, odd)
    assert kept.status_code == 202
    assert (await _read(http, tokens, kept.json()["accepted"][0]["ticket_id"]))["subject"] == odd[
        "subject"
    ]


async def test_two_idempotency_key_headers_are_refused(
    http: httpx.AsyncClient, tokens: Tokens
) -> None:
    headers = [
        ("Authorization", f"Bearer {tokens.submit}"),
        ("Idempotency-Key", "A1"),
        ("Idempotency-Key", "B1"),
    ]
    for path, body in (
        ("/tickets", {"subject": "Refund", "body": "Charged twice."}),
        ("/tickets/email", {"from": "ana@example.com", "text": "Charged twice."}),
    ):
        response = await http.post(path, headers=headers, json=body)
        assert response.status_code == 400, (path, response.text[:300])
        assert "Idempotency-Key is given more than once" in response.text


def test_html_text_keeps_the_words_and_the_lines() -> None:
    assert html_text("<p>Hi</p><ul><li>one</li><li>two</li></ul><div>Bye<br>Ana</div>") == (
        "Hi\n\n- one\n- two\n\nBye\nAna"
    )
    assert html_text("<script>x()</script><title>t</title>a &amp; b") == "a & b"


def test_an_html_part_whose_head_is_never_closed_keeps_its_words() -> None:
    # HTML lets </head> out: such a message read as empty, refused, and lost.
    assert html_text("<html><head><meta charset=utf-8><body><p>Charged twice</p>") == (
        "Charged twice"
    )


def test_text_that_looks_like_tags_that_never_end_is_read_as_text() -> None:
    """The standard library's parser is quadratic in "<" that starts no complete tag ("<a<a..."
    took 19 s for 200 KB, minutes at the body limit): such a "<" is text, read in one pass."""
    for unit in ("<a", "<!--", "</", "<?", "<!"):
        crafted = unit * (200_000 // len(unit))
        assert html_text(crafted) == crafted
    assert html_text("<p>1 < 2 and 3 > 2</p>") == "1 < 2 and 3 > 2"
    # Read before parsing: the parser alone took "<a<b>" for one tag and dropped "<a".
    assert html_text("<a<b>x") == "<ax"
