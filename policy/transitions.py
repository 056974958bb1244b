"""The ticket lifecycle: its states and the one table of allowed transitions."""

from enum import StrEnum
from typing import Final


class TicketState(StrEnum):
    NEW = "NEW"
    CLASSIFIED = "CLASSIFIED"
    TRIAGED = "TRIAGED"
    RESOLVING = "RESOLVING"
    RESOLVED = "RESOLVED"
    VALIDATED = "VALIDATED"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    # The answer is decided (approved by policy or a person) and its first delivery attempt
    # failed for now: the delivery queue retries it (for hours, at worst) until it goes out
    # (COMPLETED) or cannot (DELIVERY_FAILED). No review applies any more.
    DELIVERING = "DELIVERING"
    COMPLETED = "COMPLETED"
    # A reviewer closed the ticket without sending anything; the reason is in the log.
    REJECTED = "REJECTED"
    # Nobody reviewed the ticket before its final review deadline: closed, nothing sent. Not
    # REJECTED: no person decided against answering, and a report must tell the two apart.
    UNANSWERED = "UNANSWERED"
    FAILED = "FAILED"
    # An operator cancelled the ticket's workflow; nothing more happens to it.
    CANCELLED = "CANCELLED"
    # The answer was decided (it is in the delivery ledger) but the destination refused it for
    # good, or delivery kept failing until its retries ran out; the reason is in the ticket's
    # failure. Terminal: a person fixes the cause (the address, the receiver) and redrives the
    # delivery, which sends the recorded answer.
    DELIVERY_FAILED = "DELIVERY_FAILED"


S = TicketState

TRANSITIONS: Final[dict[TicketState, frozenset[TicketState]]] = {
    S.NEW: frozenset({S.CLASSIFIED, S.FAILED, S.CANCELLED}),
    # -> AWAITING_REVIEW before VALIDATED: a person takes over where the agents had to stop (the
    # resolver's or validator's output stayed invalid, or the ticket's budget is spent). No path
    # of today's code leaves TRIAGED so (docs/lifecycle.md); kept, as a recorded history may.
    S.CLASSIFIED: frozenset({S.TRIAGED, S.AWAITING_REVIEW, S.FAILED, S.CANCELLED}),
    S.TRIAGED: frozenset({S.RESOLVING, S.AWAITING_REVIEW, S.FAILED, S.CANCELLED}),
    S.RESOLVING: frozenset({S.RESOLVED, S.AWAITING_REVIEW, S.FAILED, S.CANCELLED}),
    # The validator may send a draft back for revision (bounded rounds).
    S.RESOLVED: frozenset({S.VALIDATED, S.RESOLVING, S.AWAITING_REVIEW, S.FAILED, S.CANCELLED}),
    # Policy decides: straight to delivery, or a person first.
    S.VALIDATED: frozenset(
        {S.COMPLETED, S.DELIVERING, S.AWAITING_REVIEW, S.DELIVERY_FAILED, S.FAILED, S.CANCELLED}
    ),
    # approve / edit -> COMPLETED (DELIVERING while a queued delivery retries, DELIVERY_FAILED
    # when refused), rework -> RESOLVING, reject -> REJECTED; nobody by the final review
    # deadline -> UNANSWERED.
    S.AWAITING_REVIEW: frozenset(
        {
            S.COMPLETED,
            S.DELIVERING,
            S.DELIVERY_FAILED,
            S.RESOLVING,
            S.REJECTED,
            S.UNANSWERED,
            S.FAILED,
            S.CANCELLED,
        }
    ),
    S.DELIVERING: frozenset({S.COMPLETED, S.DELIVERY_FAILED, S.FAILED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.REJECTED: frozenset(),
    S.UNANSWERED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.DELIVERY_FAILED: frozenset(),
}

TERMINAL_STATES: Final = frozenset(state for state, nxt in TRANSITIONS.items() if not nxt)

# Where a ticket rests until something outside the pipeline happens (a person, or nothing ever).
SETTLED_STATES: Final = TERMINAL_STATES | {S.AWAITING_REVIEW}

# The states in which a ticket is with the agents (not waiting for a person or a delivery).
AGENT_STATES: Final = frozenset(
    {S.NEW, S.CLASSIFIED, S.TRIAGED, S.RESOLVING, S.RESOLVED, S.VALIDATED}
)

# Where a ticket ended without its answer going out for a reason a person has to act on (the
# pipeline's, not a reviewer's: REJECTED, UNANSWERED and CANCELLED were decisions or a deadline).
FAILED_STATES: Final = frozenset({S.FAILED, S.DELIVERY_FAILED})


class IllegalTransition(Exception):
    """A bug in the workflow: it tried a move the lifecycle does not allow."""

    def __init__(self, current: TicketState, target: TicketState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (terminal state)"
        super().__init__(
            f"illegal transition {current} -> {target}; allowed from {current}: {allowed}"
        )
        self.current = current
        self.target = target


def check_transition(current: TicketState, target: TicketState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)


def is_terminal(state: TicketState) -> bool:
    return state in TERMINAL_STATES
