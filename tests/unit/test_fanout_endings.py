"""How `plan`, `swarm` and `batch` say a run ended other than completed: a run someone cancelled
or terminated said "failed: Workflow cancelled", or "failed: <the reason given>" without the
word terminated."""

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError

from starter.fanout_watch import ended


def test_a_run_says_whether_it_was_cancelled_terminated_or_failed() -> None:
    terminated = WorkflowFailureError(cause=TerminatedError("operator test"))
    cancelled = WorkflowFailureError(cause=CancelledError("Workflow cancelled"))
    failed = WorkflowFailureError(cause=ApplicationError("3 of 20 items failed"))

    assert ended("the batch bt", terminated) == "the batch bt was terminated: operator test"
    assert ended("the swarm sw-cancel", cancelled) == "the swarm sw-cancel was cancelled"
    assert ended("the swarm sw", failed) == "the swarm sw failed: 3 of 20 items failed"
