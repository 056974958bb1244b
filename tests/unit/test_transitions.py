"""The ticket lifecycle table: which moves are allowed, which are bugs, and what the error says."""

from collections import deque
from itertools import pairwise

import pytest

from policy.transitions import (
    SETTLED_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    IllegalTransition,
    TicketState,
    check_transition,
    is_terminal,
)

S = TicketState

# The lifecycle as DESIGN.md describes it, written out independently of the table under test.
DESIGNED_MOVES = {
    (S.NEW, S.CLASSIFIED),
    (S.CLASSIFIED, S.TRIAGED),
    (S.TRIAGED, S.RESOLVING),
    (S.RESOLVING, S.RESOLVED),
    (S.RESOLVED, S.VALIDATED),
    (S.RESOLVED, S.RESOLVING),  # the validator asks for a revision
    (S.VALIDATED, S.COMPLETED),
    (S.VALIDATED, S.AWAITING_REVIEW),
    (S.AWAITING_REVIEW, S.COMPLETED),  # approve / edit
    (S.AWAITING_REVIEW, S.RESOLVING),  # rework
    (S.AWAITING_REVIEW, S.REJECTED),  # reject
    (S.AWAITING_REVIEW, S.UNANSWERED),  # nobody decided by the final review deadline
    # The answer is decided but the destination refused it for good (or retries ran out).
    (S.VALIDATED, S.DELIVERY_FAILED),
    (S.AWAITING_REVIEW, S.DELIVERY_FAILED),
    # The first delivery attempt failed for now: the queued delivery retries it.
    (S.VALIDATED, S.DELIVERING),
    (S.AWAITING_REVIEW, S.DELIVERING),
    (S.DELIVERING, S.COMPLETED),
    (S.DELIVERING, S.DELIVERY_FAILED),
    # A person takes over where the agents had to stop (invalid output, budget spent).
    (S.CLASSIFIED, S.AWAITING_REVIEW),
    (S.TRIAGED, S.AWAITING_REVIEW),
    (S.RESOLVING, S.AWAITING_REVIEW),
    (S.RESOLVED, S.AWAITING_REVIEW),
} | {
    (state, end)
    for end in (S.FAILED, S.CANCELLED)
    for state in (
        S.NEW,
        S.CLASSIFIED,
        S.TRIAGED,
        S.RESOLVING,
        S.RESOLVED,
        S.VALIDATED,
        S.AWAITING_REVIEW,
        S.DELIVERING,
    )
}

TERMINAL = {S.COMPLETED, S.REJECTED, S.UNANSWERED, S.FAILED, S.CANCELLED, S.DELIVERY_FAILED}
NON_TERMINAL = [state for state in TicketState if state not in TERMINAL]


def test_every_state_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(TicketState)


def test_the_table_only_names_known_states() -> None:
    for targets in TRANSITIONS.values():
        assert targets <= set(TicketState)


def test_the_table_allows_exactly_the_moves_the_design_describes() -> None:
    table_moves = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert table_moves == DESIGNED_MOVES


@pytest.mark.parametrize("state", sorted(TERMINAL))
def test_a_terminal_state_has_no_exits(state: TicketState) -> None:
    assert TRANSITIONS[state] == frozenset()
    assert is_terminal(state)


def test_only_the_ends_of_the_lifecycle_are_terminal_states() -> None:
    assert TERMINAL_STATES == TERMINAL


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_a_non_terminal_state_is_not_terminal(state: TicketState) -> None:
    assert not is_terminal(state)


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_any_non_terminal_state_can_fail(state: TicketState) -> None:
    check_transition(state, S.FAILED)


def test_a_ticket_settles_in_a_terminal_state_or_while_awaiting_review() -> None:
    assert set(SETTLED_STATES) == TERMINAL | {S.AWAITING_REVIEW}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            [S.NEW, S.CLASSIFIED, S.TRIAGED, S.RESOLVING, S.RESOLVED, S.VALIDATED, S.COMPLETED],
            id="straight-through",
        ),
        pytest.param(
            [S.RESOLVING, S.RESOLVED, S.RESOLVING, S.RESOLVED, S.VALIDATED],
            id="validator-revision",
        ),
        pytest.param(
            [S.VALIDATED, S.AWAITING_REVIEW, S.COMPLETED],
            id="review-approve-or-edit",
        ),
        pytest.param(
            [S.VALIDATED, S.AWAITING_REVIEW, S.RESOLVING, S.RESOLVED, S.VALIDATED],
            id="review-rework",
        ),
        pytest.param([S.VALIDATED, S.AWAITING_REVIEW, S.REJECTED], id="review-reject"),
        pytest.param([S.VALIDATED, S.AWAITING_REVIEW, S.UNANSWERED], id="review-unanswered"),
    ],
)
def test_the_lifecycle_paths_of_the_design_are_allowed(path: list[TicketState]) -> None:
    for current, target in pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.COMPLETED),
        (S.NEW, S.NEW),
        (S.NEW, S.RESOLVING),
        (S.TRIAGED, S.RESOLVED),
        (S.VALIDATED, S.RESOLVING),
        (S.AWAITING_REVIEW, S.VALIDATED),
        (S.COMPLETED, S.RESOLVING),
        (S.REJECTED, S.COMPLETED),
        (S.UNANSWERED, S.AWAITING_REVIEW),
        (S.FAILED, S.NEW),
    ],
)
def test_an_illegal_move_raises(current: TicketState, target: TicketState) -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    assert caught.value.current is current
    assert caught.value.target is target


def test_the_error_names_both_states_and_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(S.NEW, S.COMPLETED)
    message = str(caught.value)
    assert "NEW -> COMPLETED" in message
    assert "allowed from NEW: CANCELLED, CLASSIFIED, FAILED" in message


def test_the_error_from_a_terminal_state_says_nothing_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as caught:
        check_transition(S.COMPLETED, S.RESOLVING)
    message = str(caught.value)
    assert "COMPLETED -> RESOLVING" in message
    assert "none (terminal state)" in message


def test_every_state_is_reachable_from_new() -> None:
    reached = {S.NEW}
    queue = deque([S.NEW])
    while queue:
        for target in TRANSITIONS[queue.popleft()]:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    assert reached == set(TicketState)


@pytest.mark.parametrize("state", NON_TERMINAL)
def test_every_non_terminal_state_can_reach_completion(state: TicketState) -> None:
    reached = {state}
    queue = deque([state])
    while queue:
        for target in TRANSITIONS[queue.popleft()]:
            if target not in reached:
                reached.add(target)
                queue.append(target)
    assert S.COMPLETED in reached
