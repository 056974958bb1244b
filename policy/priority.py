"""Ticket priority as a Temporal priority key: lower keys are served first from a backlog."""

import hashlib
import hmac
from typing import Final

from shared.agents import Priority

# Temporal's default range is 1..5 with 3 as the default; 5 is left for background work.
PRIORITY_KEYS: Final = {Priority.URGENT: 1, Priority.HIGH: 2, Priority.MEDIUM: 3, Priority.LOW: 4}


def priority_key(priority: Priority | None) -> int | None:
    """None before triage: activities then inherit the workflow's priority."""
    return PRIORITY_KEYS[priority] if priority is not None else None


def fairness_key(customer_id: str | None, secret: bytes | None = None) -> str | None:
    """The ticket's Temporal fairness key: one per customer, so a customer who sends hundreds of
    tickets at once shares a backlogged queue with everyone else instead of filling it (the
    server dispatches keys round-robin). Activities and child workflows inherit it. None for a
    ticket with no customer id: such tickets share the default key.

    Never the id: the key is stored unencrypted in histories and shows in the server's task
    queue statistics. With ``secret`` (derived from the encryption key ring) it is an HMAC, so
    nobody without the ring can confirm a guessed customer (an e-mail address) from it; without
    one (no encryption: the id is readable in the payloads anyway) a plain digest."""
    if not customer_id:
        return None
    if secret is None:
        return "c-" + hashlib.sha256(customer_id.encode()).hexdigest()[:16]
    return "k-" + hmac.new(secret, customer_id.encode(), hashlib.sha256).hexdigest()[:16]


# Temporal refuses a fairness key longer than this (its priority validation counts bytes), and
# with it the whole workflow task that carried a child start: one over-long key a client sent
# stalled its batch for good, no ticket of that group or after it started, and a restart with
# it failed (a review, 2026-12-07).
MAX_FAIRNESS_KEY_BYTES: Final = 64


def usable_fairness_key(key: str | None) -> str | None:
    """A client's fairness key for a start, or None (the ticket then has none) when Temporal
    would refuse it."""
    if key is None or len(key.encode("utf-8", errors="replace")) > MAX_FAIRNESS_KEY_BYTES:
        return None
    return key
