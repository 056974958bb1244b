"""A failed `plan --wait` shows what its sub-tasks did and what its calls spent before the
error: after an invalid plan, no completed sub-task or a spent budget on paid models, the error
alone said nothing of either (the swarm's failure prints its summary the same way)."""

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from shared.agents import Usage
from shared.orchestration import OrchestratorFailure, SubTaskOutcome, SubTaskStatus
from starter import render_fanout
from starter.fanout_runs import plan_failure

FAILURE = OrchestratorFailure(
    usage={
        "planner": [
            Usage(
                provider="openai",
                model="gpt-4.1",
                input_tokens=900,
                output_tokens=100,
                cost_usd=0.004,
            )
        ],
        "worker": [
            Usage(
                provider="openai",
                model="gpt-4.1",
                input_tokens=1500,
                output_tokens=500,
                cost_usd=0.01,
            )
        ],
    },
    outcomes=[
        SubTaskOutcome(
            id="research",
            worker="researcher",
            status=SubTaskStatus.FAILED,
            error="the model refused",
        ),
        SubTaskOutcome(
            id="write",
            worker="writer",
            status=SubTaskStatus.SKIPPED,
            error="needs research, which failed",
        ),
    ],
)


def test_the_failures_details_are_read_back() -> None:
    cause = ApplicationError(
        "no sub-task completed", FAILURE.model_dump(mode="json"), type="NoSubTaskCompleted"
    )
    assert plan_failure(WorkflowFailureError(cause=cause)) == FAILURE
    # A run cancelled or terminated carries none.
    assert plan_failure(WorkflowFailureError(cause=ApplicationError("stopped"))) is None


def test_the_sub_tasks_and_the_spend_are_printed_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render_fanout.print_failed_plan(FAILURE)
    out, err = capsys.readouterr()
    assert out == ""
    assert "research" in err and "the model refused" in err and "skipped" in err
    assert "spent before it stopped: 2 agent call(s), 3,000 tokens, $0.014" in err


def test_a_newer_runs_extra_field_keeps_what_it_spent() -> None:
    # A rolling deploy: a newer orchestrator's failure, one field more, read by an older ticket
    # worker; the ticket billed nothing of the run and left its calls out of its budget.
    from workflows.orchestrated_draft import failed_run

    details = {**FAILURE.model_dump(mode="json"), "retries": {"planner": 2}}
    read = failed_run(ApplicationError("the plan failed", details))
    assert read.tokens == FAILURE.tokens == 3000
    assert [o.id for o in read.outcomes] == [o.id for o in FAILURE.outcomes]
