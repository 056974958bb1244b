"""An inbound e-mail's sender becomes the ticket's customer id and, when it is one address,
the address an answer by e-mail goes to (api/routes/intake.py)."""

import hashlib

import pytest

from api.inbound_email import email_fields
from api.models import InboundEmail
from shared.ticket_input import ticket_from_mapping

LONG = "srs0=" + "x" * 120 + "@forwarder.example"


@pytest.mark.parametrize(
    ("sender", "customer_id", "customer_email"),
    [
        ("ana@example.com", "ana@example.com", "ana@example.com"),
        ("Ana Lima <ana@example.com>", "ana@example.com", "ana@example.com"),
        ('"Lima, Ana" <ana@example.com>', "ana@example.com", "ana@example.com"),
        # Unquoted: the parser read two addresses ("Lima" and Ana's), and kept none.
        ("Lima, Ana <ana@example.com>", "ana@example.com", "ana@example.com"),
        # A forwarding service's rewritten sender, past an id's 128 characters (it was refused):
        # a digest of it is the customer id, the answer goes to the whole address.
        (
            f"Ana <{LONG}>",
            "email-" + hashlib.sha256(LONG.encode()).hexdigest()[:40],
            LONG,
        ),
        ("helpdesk-user-4711", "helpdesk-user-4711", None),  # no address: no e-mail answer
        ("Ana Lima", "Ana Lima", None),  # not cut to "Ana" (the parser's reading)
        ("a@example.com, b@example.com", "a@example.com, b@example.com", None),  # not one
        ("Ana <ana@example.com> extra", "Ana <ana@example.com> extra", None),
    ],
)
def test_the_senders_address_is_the_customer_and_where_an_email_answer_goes(
    sender: str, customer_id: str, customer_email: str | None
) -> None:
    email = InboundEmail.model_validate({"from": sender, "subject": "Invoice", "text": "Where?"})

    ticket, problems = ticket_from_mapping({**email_fields(email), "id": "T-1"})

    assert problems == []
    assert ticket is not None
    assert (ticket.customer_id, ticket.customer_email) == (customer_id, customer_email)
    assert ticket.channel.value == "email"


def test_a_subject_of_nul_characters_alone_is_no_subject_not_a_refused_mail() -> None:
    email = InboundEmail.model_validate(
        {"from": "a@b.co", "subject": "\u0000\u0000", "text": "help"}
    )
    ticket, problems = ticket_from_mapping(email_fields(email))
    assert problems == [] and ticket is not None
    assert ticket.subject == "(no subject)"


def test_a_null_subject_from_a_mail_gateway_is_no_subject_not_a_refused_mail() -> None:
    email = InboundEmail.model_validate({"from": "a@b.co", "subject": None, "text": "help"})
    ticket, problems = ticket_from_mapping(email_fields(email))
    assert problems == [] and ticket is not None
    assert ticket.subject == "(no subject)"
