"""The command line's review names no wait for review: it is taken as made in the current one,
and refused where a failed rework makes the revision ambiguous (shared/review_operations.py
in_the_current_wait), with the wait `status` prints to name it."""

from datetime import UTC, datetime, timedelta

import pytest

from policy.review_policy import ReasonCode
from policy.transitions import TicketState
from shared.operation_errors import ReviewRefused
from shared.review import ReviewAction, ReviewDecision
from shared.review_operations import in_the_current_wait
from shared.view import DraftRecord, TicketView, Transition
from starter import render_status

FIRST = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
AGAIN = FIRST + timedelta(minutes=30)


def waiting(*, failed_rework: bool) -> TicketView:
    """A ticket waiting for review on draft revision 1: once, or again after a rework that failed
    (no new draft)."""

    def moved(from_state: TicketState, to: TicketState, at: datetime) -> Transition:
        return Transition(from_state=from_state, to_state=to, at=at, agent="a", reason="r")

    transitions = [moved(TicketState.VALIDATED, TicketState.AWAITING_REVIEW, FIRST)]
    codes = ["urgent"]
    if failed_rework:
        transitions += [
            moved(TicketState.AWAITING_REVIEW, TicketState.RESOLVING, FIRST + timedelta(minutes=9)),
            moved(TicketState.RESOLVING, TicketState.AWAITING_REVIEW, AGAIN),
        ]
        codes.append(ReasonCode.REWORK_FAILED.value)
    return TicketView(
        ticket_id="T-1",
        subject="s",
        state=TicketState.AWAITING_REVIEW,
        draft=DraftRecord(revision=1, text="Hello", author="m"),
        transitions=transitions,
        review_reasons=codes,
        review_reason_codes=codes,
    )


def test_a_decision_naming_no_wait_is_made_in_the_current_one() -> None:
    decision = ReviewDecision(action=ReviewAction.APPROVE, revision=1)
    assert in_the_current_wait("T-1", decision, waiting(failed_rework=False)).waiting_since == FIRST
    # Without a revision the reviewer named nothing they saw: the current wait, even after a
    # failed rework (a later one still refuses it).
    blind = ReviewDecision(action=ReviewAction.APPROVE)
    assert in_the_current_wait("T-1", blind, waiting(failed_rework=True)).waiting_since == AGAIN


def test_a_revision_that_came_back_from_a_failed_rework_needs_its_wait_named() -> None:
    decision = ReviewDecision(action=ReviewAction.APPROVE, revision=1)
    with pytest.raises(ReviewRefused) as refused:
        in_the_current_wait("T-1", decision, waiting(failed_rework=True))
    assert "sent back for rework, which failed" in str(refused.value)
    assert f"--waiting-since {AGAIN.isoformat()}" in str(refused.value)

    named = decision.model_copy(update={"waiting_since": AGAIN})
    assert in_the_current_wait("T-1", named, waiting(failed_rework=True)) is named
    # A wait named wrong is kept as given: the ticket refuses it as made in another wait.
    stale = decision.model_copy(update={"waiting_since": FIRST})
    assert in_the_current_wait("T-1", stale, waiting(failed_rework=True)).waiting_since == FIRST


def test_status_prints_the_current_wait_as_the_review_command_takes_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render_status.print_status(waiting(failed_rework=True))
    out = capsys.readouterr().out
    assert f"Waiting    for review since {AGAIN.isoformat()}" in out
    # A ticket stopped from outside waits for nothing.
    render_status.print_status(waiting(failed_rework=True), "TERMINATED")
    assert "for review since" not in capsys.readouterr().out
    # The time as printed is what --waiting-since parses back to the same moment.
    parsed = ReviewDecision.model_validate(
        {"action": "approve", "waiting_since": AGAIN.isoformat()}
    ).waiting_since
    assert parsed == AGAIN
