"""What identifies an answer: the SHA-256 of its text, and the idempotency key derived from it.

Pure functions, safe in workflow code: the ticket workflow compares the hash the ledger holds
with the hash of the draft it asked to send; the delivery activity records both and sends the key
with every attempt (the webhook's Idempotency-Key header, the e-mail's Message-ID).
"""

import hashlib
from typing import Final

# The heartbeat detail naming the answer a queued delivery's attempts sent (its idempotency key):
# written by the delivery activity, read by its retries and by `starter redrive`.
SENT_DETAIL: Final = "sent"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def idempotency_key(ticket_id: str, text_hash: str, chain: str | None = None) -> str:
    """Stable per ticket and answer: every retry of one answer carries the same key, another
    answer to the same ticket a different one. ``chain``: the ticket workflow's first run id,
    so the same text answering a later ticket with the same id (resubmitted after retention)
    is a new key a receiver does not drop. Ticket ids are ``[A-Za-z0-9._-]``, so the key is
    safe in a header."""
    if chain:
        text_hash = hashlib.sha256(f"{chain}:{text_hash}".encode()).hexdigest()
    return f"{ticket_id}.{text_hash[:32]}"
