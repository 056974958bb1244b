"""An inbound e-mail (`POST /tickets/email`) as a ticket's fields: its sender's address as the
customer and where an answer by e-mail goes, its subject on one line, its text without the
earlier thread quoted below the reply when only that makes it too long."""

import binascii
import hashlib
import re
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import getaddresses
from typing import Any

from api.html_text import html_text
from api.models import InboundEmail
from policy.quoted_thread import quoted_thread_start
from shared.tickets import (
    EMAIL_PATTERN,
    ENCODED_WORD_START,
    MAX_BODY_CHARS,
    MAX_CUSTOMER_ID_CHARS,
    MAX_EMAIL_CHARS,
    MAX_SUBJECT_CHARS,
    email_problem,
)


def email_fields(email: InboundEmail) -> dict[str, Any]:
    """The ticket's fields from an inbound e-mail. The sender's address (out of a header such as
    ``Ana <ana@example.com>``) is the customer id and, when it is one address, where an answer
    by e-mail goes; a sender that is no address stays the customer id as sent."""
    # Without NULs first (the ticket drops them): a subject of NULs alone was refused as empty.
    subject = " ".join(decoded_words(email.subject).replace("\x00", "").split()) or "(no subject)"
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[: MAX_SUBJECT_CHARS - 1] + "…"
    address = sender_address(email.sender)
    fields: dict[str, Any] = {
        "subject": subject,
        "body": email_body(message_text(email)),
        "customer_id": _customer_of(address) if address else email.sender.strip(),
        "channel": "email",
    }
    if address:
        fields["customer_email"] = address
    return fields


def message_text(email: InboundEmail) -> str:
    """The message's text: its plain text, or, when that is blank and an HTML part came, the
    words of the HTML (an e-mail sent as HTML only was refused for good, and lost)."""
    if email.text.strip() or not email.html:
        return email.text
    return html_text(email.html)


def decoded_words(subject: str) -> str:
    """A subject as a reader sees it: RFC 2047 encoded words (``=?UTF-8?B?...?=``, which a
    gateway passing the raw header on leaves in) decoded; one that does not decode (an unknown
    charset, bad base64) stays as sent."""
    if ENCODED_WORD_START not in subject:
        return subject
    try:
        return str(make_header(decode_header(subject)))
    except (LookupError, ValueError, binascii.Error, HeaderParseError):
        return subject


def key_of_message(message_id: str | None) -> str | None:
    """A Message-ID as the key of its ticket: stripped, and in angle brackets (RFC 5322's form,
    which most gateways send): one gateway's "abc@mail.example" and another's
    "<abc@mail.example>" were two tickets. None for none (a blank one is none: as a key it
    would merge every such e-mail into one ticket)."""
    value = (message_id or "").strip()
    if not value:
        return None
    return value if value.startswith("<") and value.endswith(">") else f"<{value}>"


def _customer_of(address: str) -> str:
    """The address as the customer id, or a digest of it when it is longer than an id may be
    (a forwarding service's rewritten sender): it was refused at 128 characters. The answer
    still goes to the whole address (``customer_email``)."""
    if len(address) <= MAX_CUSTOMER_ID_CHARS:
        return address
    return "email-" + hashlib.sha256(address.lower().encode()).hexdigest()[:40]


def email_body(text: str) -> str:
    """The ticket's body from an e-mail's text. A text too long for a ticket loses the earlier
    thread quoted below the reply (at a genuine quote marker: policy.quoted_thread), which the
    agents would not read anyway; nothing else is cut, so a reply that is still too long is
    refused, never truncated."""
    if len(text.strip()) <= MAX_BODY_CHARS:
        # As sent (CRLF too): a message sent again must match the ticket it started (the
        # content digest reads the body).
        return text
    plain = text.replace("\r\n", "\n")
    if len(plain.strip()) <= MAX_BODY_CHARS:
        # Mail's CRLF counted two characters a line break: a reply that fits was refused when
        # sent alone and accepted with a quoted thread below it (cut at the quote, with LF).
        return plain
    lines = plain.split("\n")
    start = quoted_thread_start(lines, reply_limit=MAX_BODY_CHARS)
    reply = "\n".join(lines[:start]) if start is not None else ""
    return reply if reply.strip() else text


def _sender_candidate(sender: str) -> str | None:
    """The one value in a From value that EMAIL_PATTERN takes as an address, or None for none
    or several."""
    # A display name then one <address> at the end: the name may hold an unquoted comma
    # ("Lima, Ana <ana@example.com>"), which the parser reads as two addresses, "Lima" and
    # Ana's, and the answer by e-mail was lost.
    named = re.fullmatch(r"[^<>]*<([^<>]+)>\s*", sender)
    addresses = [named.group(1).strip()] if named else [a for _, a in getaddresses([sender]) if a]
    if len(addresses) != 1 or len(addresses[0]) > MAX_EMAIL_CHARS:
        return None
    return addresses[0] if re.fullmatch(EMAIL_PATTERN, addresses[0]) else None


def sender_address(sender: str) -> str | None:
    """The one address in a From value, or None: a value that holds no address ("Ana Lima",
    which the parser would cut to "Ana") or several stays the customer id as sent."""
    address = _sender_candidate(sender)
    return address if address is not None and email_problem(address) is None else None


def sender_problem(sender: str) -> str | None:
    """Why a From value's one address cannot be answered by e-mail though it looks like one (a
    trailing dot, an encoded word: shared/tickets.py email_problem), or None. Such an e-mail
    became a ticket with no address to answer: its agents ran, then delivery by e-mail failed
    for good (a review, 2026-12-07). A value with no address stays accepted, as before."""
    address = _sender_candidate(sender)
    return email_problem(address) if address is not None else None
