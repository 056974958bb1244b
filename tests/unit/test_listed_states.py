"""A ticket stopped from outside (terminated, timed out) shows its workflow's status as its
state, and a listing filters by it: it was listed under no state at all (its last recorded
state, say AWAITING_REVIEW, is asked for running tickets only, and TERMINATED was refused)."""

import pytest

from policy.transitions import TicketState
from shared import ticket_listing as listing
from shared.ticket_status import ListedState, StoppedState, listed_state, shown_state
from starter.arguments import state_argument

BASE = "WorkflowType = 'TicketWorkflow'"


@pytest.mark.parametrize(
    ("state", "status"),
    [(StoppedState.TERMINATED, "Terminated"), (StoppedState.TIMED_OUT, "TimedOut")],
)
def test_a_stopped_state_lists_by_the_workflow_status(state: StoppedState, status: str) -> None:
    assert listing.ticket_query(state) == f"{BASE} AND ExecutionStatus = '{status}'"
    # What such a ticket shows is what it is listed by.
    assert shown_state(state.value, TicketState.AWAITING_REVIEW.value) == state.value


def test_a_tickets_own_state_still_lists_by_the_state() -> None:
    assert listing.ticket_query(TicketState.AWAITING_REVIEW) == (
        f"{BASE} AND TicketState = 'AWAITING_REVIEW' AND ExecutionStatus = 'Running'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("terminated", StoppedState.TERMINATED),
        (" TIMED_OUT ", StoppedState.TIMED_OUT),
        ("awaiting_review", TicketState.AWAITING_REVIEW),
    ],
)
def test_the_command_line_and_the_api_take_both_kinds(text: str, expected: object) -> None:
    assert state_argument(text) == expected
    assert listed_state(ListedState(expected).value) == expected


def test_an_unknown_state_names_every_known_one() -> None:
    with pytest.raises(ValueError, match=r"unknown state 'STOPPED'; one of NEW, .*, TIMED_OUT$"):
        listed_state("STOPPED")
