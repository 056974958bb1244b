"""What `batch --wait` says of a cancelled batch (starter/batch_run.py batch_left_running):
every ticket in one count, and the ones started going on to their answers."""

from shared.batch import BatchProgress
from starter.batch_run import batch_left_running


def test_every_ticket_is_in_one_count_and_those_in_flight_go_on() -> None:
    progress = BatchProgress(
        total=10, started=6, already_known=1, in_flight=2, settled={"COMPLETED": 3, "INVALID": 1}
    )
    assert batch_left_running(progress) == (
        ": of its 10 ticket(s), 4 had reported back, 1 was already known, 2 were in flight: a "
        "ticket started is a workflow of its own and goes on to its answer (`list` shows them, "
        "`status ID` each one), 3 never started (the same `batch` command starts them)"
    )


def test_a_batch_cancelled_as_it_ended_names_only_what_it_did() -> None:
    finished = BatchProgress(total=3, started=3, already_known=0, in_flight=0, settled={"X": 3})
    assert batch_left_running(finished) == ": of its 3 ticket(s), 3 had reported back"


def test_tickets_being_started_again_are_not_said_to_go_on_to_their_answers() -> None:
    # Refused starts (ended runs held their ids) being started again when the batch was
    # cancelled: counted in flight, and said to go on to their answers.
    progress = BatchProgress(
        total=5, started=1, already_known=0, in_flight=3, settled={"COMPLETED": 2}, restarting=2
    )
    said = batch_left_running(progress)
    assert "1 was in flight" in said
    assert "2 were being started again (an ended run held the id) and may not have started" in said
