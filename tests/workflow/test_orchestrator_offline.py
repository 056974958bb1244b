"""An orchestrator run on the real offline workers: work the rules cannot do is a named gap."""

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.providers.offline.workers import CANNOT_DO_ERROR
from shared import names
from shared.orchestration import OrchestratorInput, OrchestratorResult, SubTaskStatus
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_the_offline_coder_fails_its_sub_task_and_the_synthesis_names_the_gap(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    task = "Write a script that exports every invoice as a PDF, and reply to the customer."
    async with real_pipeline(ts_env.client, task_queue, tmp_path):
        result = await ts_env.client.execute_workflow(
            names.ORCHESTRATOR_WORKFLOW,
            OrchestratorInput(task=task),
            id=f"plan-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=OrchestratorResult,
        )

    outcomes = {o.id: o for o in result.outcomes}
    assert "code" in outcomes, "the planner should have planned a coder for this task"
    code = outcomes["code"]
    # Not a placeholder recorded as done: the sub-task failed, saying why, in both attempts.
    assert code.status is SubTaskStatus.FAILED
    assert code.error is not None and CANNOT_DO_ERROR in code.error
    assert "cannot write code" in code.error
    # What needed the code was skipped, and the synthesis says what is missing.
    assert outcomes["write"].status is SubTaskStatus.SKIPPED
    assert outcomes["research"].status is SubTaskStatus.COMPLETED
    assert "code did not complete" in result.synthesis.gaps
    assert "write did not complete" in result.synthesis.gaps
    assert "NotImplementedError" not in result.synthesis.answer
