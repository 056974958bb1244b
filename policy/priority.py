"""Ticket priority as a Temporal priority key: lower keys are served first from a backlog."""

from typing import Final

from shared.agents import Priority

# Temporal's default range is 1..5 with 3 as the default; 5 is left for background work.
PRIORITY_KEYS: Final = {Priority.URGENT: 1, Priority.HIGH: 2, Priority.MEDIUM: 3, Priority.LOW: 4}


def priority_key(priority: Priority | None) -> int | None:
    """None before triage: activities then inherit the workflow's priority."""
    return PRIORITY_KEYS[priority] if priority is not None else None
