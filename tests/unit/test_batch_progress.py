"""What `batch --wait` counts as failed (exit 3): the pipeline's failures, a restart that failed,
and a ticket whose workflow the batch's check found timed out or gone. Those two were shown
only among the states at rest, and the exit code said every ticket was answered."""

from shared.batch import RESTART_FAILED, BatchProgress


def progress(**settled: int) -> BatchProgress:
    return BatchProgress(
        total=sum(settled.values()), started=0, already_known=0, in_flight=0, settled=settled
    )


def test_timed_out_and_gone_tickets_count_as_failed_and_decisions_do_not() -> None:
    assert progress(COMPLETED=5, TIMED_OUT=1, NOT_FOUND=2).failed == 3
    assert progress(FAILED=1, DELIVERY_FAILED=1, **{RESTART_FAILED: 1}).failed == 3
    # An operator's terminate or cancel, a rejection, a ticket waiting for a person: decided.
    assert progress(TERMINATED=1, CANCELLED=1, REJECTED=1, AWAITING_REVIEW=1).failed == 0
