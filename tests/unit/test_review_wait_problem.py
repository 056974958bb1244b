"""A review's wait that is not the ticket's: said as a rework that came back only when one did
(workflows/review_gate.py wait_problem); a time given without its fraction was told "it has
been sent back for rework since" with two identical times."""

from datetime import UTC, datetime

from policy.transitions import TicketState
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView, Transition
from workflows.review_gate import wait_problem


def waiting(*waits: datetime) -> TicketView:
    """A ticket that began waiting for review at each of ``waits`` (a rework between each)."""
    view = TicketView(ticket_id="T-1", subject="Refund", state=TicketState.AWAITING_REVIEW)
    for at in waits:
        view.transitions.append(
            Transition(
                from_state=TicketState.VALIDATED,
                to_state=TicketState.AWAITING_REVIEW,
                at=at,
                agent="policy",
                reason="urgent",
            )
        )
    return view


def approval(waiting_since: datetime) -> ReviewDecision:
    return ReviewDecision(action=ReviewAction.APPROVE, waiting_since=waiting_since)


def test_a_wait_given_without_its_fraction_is_not_called_a_rework() -> None:
    # Typed from a display that shows seconds: refused (the wait must be the very one), but it
    # said "sent back for rework since" with two identical times, no rework having happened.
    began = datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)

    problem = wait_problem(waiting(began), approval(began.replace(microsecond=0)))

    assert problem is not None and "sent back for rework" not in problem
    assert "began at 2026-01-01 10:00:00.123456 UTC, not at 2026-01-01 10:00:00.000000" in problem


def test_a_wait_a_rework_replaced_is_said_so() -> None:
    first = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    again = datetime(2026, 1, 1, 11, 30, 0, tzinfo=UTC)
    view = waiting(first, again)

    problem = wait_problem(view, approval(first))

    assert problem is not None and "sent back for rework since" in problem
    assert "waits again from 2026-01-01 11:30:00 UTC" in problem
    assert wait_problem(view, approval(again)) is None
