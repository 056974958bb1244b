"""The ticket as it enters the system, with the limits that guard the pipeline."""

import hashlib
from email.errors import HeaderParseError
from email.message import EmailMessage
from enum import StrEnum
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_SUBJECT_CHARS: Final = 200
# Enough for a long e-mail thread; past this a ticket is almost always a pasted log or attachment,
# which belongs in an attachment store, not in a workflow history (payloads are capped at 2 MB).
MAX_BODY_CHARS: Final = 20_000
TICKET_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# RFC 5321's limit on an address in a mail command.
MAX_EMAIL_CHARS: Final = 254
# Workflows validate tickets with it: a change would start tickets a released version refused.
MAX_CUSTOMER_ID_CHARS: Final = 128
# One address, local@domain.tld, with nothing that could start another header or address (no
# spaces, line breaks, commas, angle brackets): it goes into an e-mail's To header as it is.
EMAIL_PATTERN: Final = r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$"
# What starts an RFC 2047 encoded word, which the e-mail package decodes in an address header
# too: "=?utf-8?q?ceo=40company.com=2C_press=40news.example?=@attacker.example" passes the
# pattern and was written out as "To: ceo@company.com, press@news.example@attacker.example".
# Refused wherever an address comes in (usable_email), and checked again at delivery; not in
# the pattern, which workflows validate tickets with (a ticket already running keeps its input).
ENCODED_WORD_START: Final = "=?"


def email_problem(address: str) -> str | None:
    """Why ``address`` (one EMAIL_PATTERN takes) cannot go into a To header as it is, or None.

    Delivery writes the address into a To header and refuses, for good, one the e-mail package
    reads back as anything else (activities/delivery/smtp.py build_message); EMAIL_PATTERN lets
    through some it reads back changed: a trailing dot ("jane@example.com.", copied from the
    end of a sentence), an empty part of the domain ("a@b..com"), a backslash in the local part.
    Such a ticket went through its four agents and then ended DELIVERY_FAILED, its address in
    its input where no redrive could mend it; it is refused at intake instead."""
    if ENCODED_WORD_START in address:
        return (
            f'holds "{ENCODED_WORD_START}", which e-mail reads as the start of an encoded word, '
            "not part of an address"
        )
    header = EmailMessage()
    try:
        header["To"] = address
        read_back = [a.addr_spec for a in header["To"].addresses]
    except (ValueError, IndexError, HeaderParseError):
        read_back = []
    if read_back != [address]:
        return (
            "is not an address an e-mail can be sent to as written (a stray dot, at its end or "
            "beside another dot or the @? a backslash?)"
        )
    return None


def usable_email(address: str) -> bool:
    """Whether ``address`` (one EMAIL_PATTERN takes) can go into a To header as it is."""
    return email_problem(address) is None


class CustomerTier(StrEnum):
    FREE = "free"
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"


class Channel(StrEnum):
    EMAIL = "email"
    CHAT = "chat"
    WEB = "web"
    PHONE = "phone"
    API = "api"


TicketId = Annotated[str, StringConstraints(pattern=TICKET_ID_PATTERN)]


class Ticket(BaseModel):
    """A customer's request. Immutable once submitted: agents read it, never change it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_id: TicketId
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        max_length=MAX_SUBJECT_CHARS
    )
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        max_length=MAX_BODY_CHARS
    )
    customer_id: str | None = Field(default=None, max_length=MAX_CUSTOMER_ID_CHARS)
    customer_tier: CustomerTier = CustomerTier.STANDARD
    channel: Channel = Channel.EMAIL
    # Where an answer by e-mail goes (the e-mail delivery channel needs it).
    customer_email: (
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=EMAIL_PATTERN)] | None
    ) = Field(default=None, max_length=MAX_EMAIL_CHARS)

    @field_validator("subject", mode="before")
    @classmethod
    def _single_line_subject(cls, value: object) -> object:
        # Collapse before the length check: the limit applies to the subject as stored.
        return normalize_subject(without_nul(value)) if isinstance(value, str) else value

    @field_validator("body", "customer_id", "customer_email", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return without_nul(value)


def without_nul(value: object) -> object:
    """Text without NUL characters: PostgreSQL's text columns refuse them (the shared delivery
    ledger would then fail every attempt to record the answer), and no e-mail, chat message or
    web form carries one on purpose. Other values pass unchanged (for their own validation)."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def normalize_subject(subject: str) -> str:
    return " ".join(subject.split())


# The mark of a content digest that counts the e-mail address (same_content).
DIGEST_VERSION = "v2:"


def content_digest(ticket: "Ticket") -> str:
    """What identifies a ticket's content (subject, body, customer), as a digest: two tickets
    with one id and different digests are two tickets whose ids collide. The customer is its id,
    or its e-mail address when it has none, as ``derive_ticket_id`` takes it: two helpdesks'
    ticket 1001 with the same words from two addresses had one digest, and the second was
    reported a duplicate and never answered (a review, 2026-12-07). Marked ``v2:``, so a memo
    from before can be told from it (``same_content``)."""
    customer = _customer(ticket.customer_id, ticket.customer_email)
    return DIGEST_VERSION + _digest([customer, ticket.subject, ticket.body])


def same_content(earlier: str, ticket: "Ticket") -> bool:
    """Whether a digest recorded for a ticket's id (its memo) is this ticket's content. A digest
    from before the address counted (no ``v2:``) is compared in its own form: the ticket's
    words and customer id. Comparing both forms with any memo matched a new ticket without an
    address to a later one with the same words from an address (both forms of the first are
    the digest of no customer)."""
    if earlier.startswith(DIGEST_VERSION):
        return earlier == content_digest(ticket)
    return earlier == _digest([ticket.customer_id or "", ticket.subject, ticket.body])


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def _customer(customer_id: str | None, customer_email: str | None) -> str:
    """Who a ticket is from, for its identity: its customer id, else its e-mail address."""
    return customer_id or (f"email:{customer_email.strip().lower()}" if customer_email else "")


def derive_ticket_id(
    subject: str, body: str, customer_id: str | None, customer_email: str | None = None
) -> str:
    """A stable id for tickets submitted without one: the same ticket submitted twice gets the same
    id, so the second submission finds the first workflow instead of processing it again. The
    customer is its id, or its e-mail address when it has no id: two web-form tickets with the
    same words from two addresses are two tickets, not one answered to the first address."""
    customer = _customer(customer_id, customer_email)
    return f"T-{_digest([customer, normalize_subject(subject), body.strip()])[:12]}"
