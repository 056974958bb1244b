"""Ticket priority as a Temporal priority key: lower keys are served first from a backlog."""

import hashlib
from typing import Final

from shared.agents import Priority

# Temporal's default range is 1..5 with 3 as the default; 5 is left for background work.
PRIORITY_KEYS: Final = {Priority.URGENT: 1, Priority.HIGH: 2, Priority.MEDIUM: 3, Priority.LOW: 4}


def priority_key(priority: Priority | None) -> int | None:
    """None before triage: activities then inherit the workflow's priority."""
    return PRIORITY_KEYS[priority] if priority is not None else None


def fairness_key(customer_id: str | None) -> str | None:
    """The ticket's Temporal fairness key: one per customer, so a customer who sends hundreds of
    tickets at once shares a backlogged queue with everyone else instead of filling it (the
    server dispatches keys round-robin). A digest, not the id: keys show in the server's task
    queue statistics. Activities and child workflows inherit it. None for a ticket with no
    customer id: such tickets share the default key."""
    if not customer_id:
        return None
    return "c-" + hashlib.sha256(customer_id.encode()).hexdigest()[:16]
