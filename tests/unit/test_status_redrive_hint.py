"""`status` of a ticket at rest in a state `redrive` takes names the command, with a window that
reaches back to when the ticket closed: nothing said what to do with a FAILED, DELIVERY_FAILED or
UNANSWERED ticket, and `redrive`'s default 24 h window missed older ones."""

from datetime import UTC, datetime, timedelta

import pytest

from policy.transitions import TicketState
from shared.view import TicketView, Transition
from starter.render_status import print_status, redrive_line

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def closed(state: TicketState, ago: timedelta) -> TicketView:
    moved = Transition(
        from_state=TicketState.VALIDATED, to_state=state, at=NOW - ago, agent="a", reason="r"
    )
    return TicketView(ticket_id="T-1", subject="s", state=state, transitions=[moved])


@pytest.mark.parametrize(
    ("state", "ago", "since", "what"),
    [
        (TicketState.FAILED, timedelta(minutes=20), "2h", "once the cause is fixed"),
        (TicketState.DELIVERY_FAILED, timedelta(hours=30), "31h", "sends its recorded answer"),
        (TicketState.UNANSWERED, timedelta(days=9, hours=1), "10d", "wait for review"),
    ],
)
def test_a_ticket_redrive_takes_names_the_command_reaching_back_to_its_close(
    state: TicketState, ago: timedelta, since: str, what: str
) -> None:
    said = redrive_line(closed(state, ago), NOW)
    assert said is not None
    assert said.startswith(f"python -m starter redrive --state {state} --since {since} (")
    assert what in said and "without --yes only says what it would do" in said


def test_other_states_and_a_ticket_stopped_from_outside_name_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for state in (TicketState.COMPLETED, TicketState.REJECTED, TicketState.AWAITING_REVIEW):
        assert redrive_line(closed(state, timedelta(hours=1)), NOW) is None
    print_status(closed(TicketState.FAILED, timedelta(hours=1)))
    assert "Next       python -m starter redrive --state FAILED" in capsys.readouterr().out
    # Terminated from outside: it shows TERMINATED, and redrive does not take it.
    print_status(closed(TicketState.FAILED, timedelta(hours=1)), "TERMINATED")
    assert "redrive" not in capsys.readouterr().out
