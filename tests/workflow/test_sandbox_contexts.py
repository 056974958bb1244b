"""shared/sandbox_contexts.py: the sandbox's per-payload context questions answered directly give
exactly the SDK's answers, for every payload of real runs (activities, local activities, child
workflows), and the workers run with it."""

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox._runner import _Instance

import task_queue_workers
from policy.transitions import TicketState
from shared import names, sandbox_contexts
from shared.orchestration import OrchestratorInput, OrchestratorResult
from shared.view import TicketView
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import built_workers, real_pipeline

# (question, the command it was asked for, the direct answer, the SDK's answer)
Asked = tuple[str, Any, Any, Any]


def checking_runner(
    asked: list[Asked], fallbacks: list[Any]
) -> type[sandbox_contexts.DirectContextRunner]:
    """DirectContextRunner whose instances also ask the SDK's own way, and note both answers
    (and each question the direct path left to the SDK's)."""

    class Checking(sandbox_contexts._DirectContextInstance):
        def _both(self, question: str, method: str, command_info: Any) -> Any:
            # The direct path, not its fallback to the SDK's (which would equal it trivially).
            if self._in_sandbox() is None:
                fallbacks.append(command_info)
            direct = getattr(super(), method)(command_info)
            sdk = getattr(_Instance, method)(self, command_info)
            asked.append((question, command_info, direct, sdk))
            return direct

        def get_serialization_context(self, command_info: Any) -> Any:
            return self._both("serialization", "get_serialization_context", command_info)

        def get_external_store_context(self, command_info: Any) -> Any:
            return self._both("external store", "get_external_store_context", command_info)

    class Runner(sandbox_contexts.DirectContextRunner):
        def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
            return Checking(det, self.runner_class, self.restrictions)

    return Runner


def test_the_sdk_has_what_the_direct_path_needs() -> None:
    # Fails after an SDK upgrade that moved the names: the workers then take the SDK's slower
    # path (still correct); see the module's docstring before pinning or adapting.
    assert sandbox_contexts.direct_path_available()


async def test_every_context_answered_directly_is_the_sdks_answer(
    ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Asked] = []
    fallbacks: list[Any] = []
    monkeypatch.setattr(
        task_queue_workers, "DirectContextRunner", checking_runner(asked, fallbacks)
    )
    async with real_pipeline(ts_env.client, task_queue, tmp_path):
        # A ticket straight through: activities, local activities (its configuration snapshot,
        # the knowledge base, the delivery attempt), search attributes, its result.
        view: TicketView = await (
            await start_ticket(ts_env.client, task_queue, make_ticket())
        ).result()
        # An orchestrator run: child workflows and their results.
        planned = await ts_env.client.execute_workflow(
            names.ORCHESTRATOR_WORKFLOW,
            OrchestratorInput(task="Find our refund policy and reply to the customer."),
            id=f"plan-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=OrchestratorResult,
        )

    assert view.state is TicketState.COMPLETED
    assert planned.outcomes
    assert fallbacks == []
    different = [(q, c, d, s) for q, c, d, s in asked if d != s]
    assert different == []
    answers = [d for q, _, d, _ in asked if q == "serialization"]
    activities = [a for a in answers if isinstance(a, ActivitySerializationContext)]
    assert {a.is_local for a in activities} == {True, False}
    workflow_ids = {a.workflow_id for a in answers if isinstance(a, WorkflowSerializationContext)}
    # The runs' own ids, and a child's: the orchestrator's sub-task workflows.
    assert len(workflow_ids) > 2
    assert any(q == "external store" and c is not None for q, c, _, _ in asked)


async def test_sandboxed_workers_run_with_the_direct_context_runner(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    _, workers = built_workers(ts_env.client, tmp_path, "runner")
    # After the client's plugins (tracing) had their say about the runner.
    active = [w.config(active_config=True) for w in workers]
    runners = [c.get("workflow_runner") for c in active if c.get("workflows")]
    assert runners
    assert all(isinstance(r, sandbox_contexts.DirectContextRunner) for r in runners)
    # The tracing plugin did have its say (it passes its modules through the sandbox).
    assert all("opentelemetry" in r.restrictions.passthrough_modules for r in runners)
