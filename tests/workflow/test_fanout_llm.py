"""The orchestrator and the swarm on real provider clients (openai, anthropic SDKs) against the
fake LLM server: the model's plan is the plan, its answers reach the next worker."""

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.orchestration import OrchestratorInput, OrchestratorResult, SubTaskStatus
from shared.swarm import SwarmItem, SwarmResult, SwarmSettings, SwarmState
from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers
from tests.support.llm_pipeline import MODELS, llm_pipeline, llm_setup

pytestmark = pytest.mark.usefixtures("replay_check")

PLAN = {
    "subtasks": [
        {"id": "facts", "worker": "researcher", "instruction": "Find the refund rules.",
         "depends_on": []},
        {"id": "answer", "worker": "writer", "instruction": "Answer the customer.",
         "depends_on": ["facts"]},
    ],
    "rationale": "research, then write",
}  # fmt: skip


def orchestration_answers(request: Recorded) -> Reply:
    name = request.output_name
    if name == "Plan":
        return Reply(output=PLAN)
    if name == "WorkResult":
        marker = "RESEARCH-OUTPUT-7" if "Find the refund rules" in request.text else "WRITTEN"
        return Reply(output={"output": f"{marker}: refunds within 30 days", "sources": ["KB-201"]})
    if name == "Synthesis":
        return Reply(output={"answer": "You can get a refund within 30 days.", "gaps": [],
                             "sources": ["KB-201"]})  # fmt: skip
    return good_answers(request)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_models_plan_is_run_and_each_worker_sees_its_dependencies_output(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, kind: str
) -> None:
    with FakeLLMServer() as fake:
        fake.responder = orchestration_answers
        setup = llm_setup(fake, (kind,))
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            result = await ts_env.client.execute_workflow(
                names.ORCHESTRATOR_WORKFLOW,
                OrchestratorInput(task="A customer asks how refunds work."),
                id=f"plan-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                result_type=OrchestratorResult,
            )
        calls = fake.calls()

    assert [c.output_name for c in calls] == ["Plan", "WorkResult", "WorkResult", "Synthesis"]
    assert {c.api for c in calls} == {kind}
    assert [t.id for t in result.plan.subtasks] == ["facts", "answer"]
    assert all(o.status is SubTaskStatus.COMPLETED for o in result.outcomes)
    assert all(o.model == MODELS[kind] for o in result.outcomes)
    # The writer's prompt carries the researcher's output; the synthesizer's carries both.
    assert "RESEARCH-OUTPUT-7" in calls[2].text and "RESEARCH-OUTPUT-7" not in calls[1].text
    assert "WRITTEN" in calls[3].text
    assert result.synthesis.answer == "You can get a refund within 30 days."
    assert result.tokens == 4 * 120 and result.cost_usd > 0


async def test_a_swarm_on_a_provider_validates_every_answer_and_counts_the_bad_ones(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def answers(request: Recorded) -> Reply:
        if "UNREADABLE" in request.text:  # not JSON at all, both times: the item fails
            return Reply(text="I cannot help with that.")
        return good_answers(request)

    items = [SwarmItem(item_id=f"R{i}", text=f"Review {i}: works well.") for i in range(6)]
    items[4] = SwarmItem(item_id="R4", text="UNREADABLE review")
    with FakeLLMServer() as fake:
        fake.responder = answers
        setup = llm_setup(fake)
        async with llm_pipeline(ts_env.client, task_queue, tmp_path, setup):
            result = await ts_env.client.execute_workflow(
                names.SWARM_WORKFLOW,
                args=[
                    items,
                    SwarmState(settings=SwarmSettings(concurrency=3, max_failure_rate=0.5)),
                ],
                id=f"swarm-{uuid.uuid4().hex[:8]}",
                task_queue=task_queue,
                result_type=SwarmResult,
            )
        calls = fake.calls()

    assert (result.succeeded, result.failed) == (5, 1)
    assert result.failures[0].item_id == "R4"
    assert "does not match ReviewInsights" in result.failures[0].reason
    assert len(calls) == 7  # one call per item, two (a repair round) for the bad one
    good = next(r for r in result.outputs if r.item_id == "R0")
    assert good.output is not None
    assert good.output.model_dump(mode="json") == {
        "sentiment": "positive",
        "key_points": ["arrived quickly"],
    }
    # The bad item's tokens are counted too (both requests).
    assert result.tokens == 7 * 120
