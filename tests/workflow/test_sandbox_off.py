"""TICKETS_WORKFLOW_SANDBOX=off: the workflows run without the SDK's sandbox and do exactly what
they do in it (the same commands: the histories replay in the sandbox, see ``replay_check``)."""

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

import task_queue_workers
from activities.delivery.activity import DeliveryActivities
from activities.providers.registry import build_providers
from policy.transitions import SETTLED_STATES
from shared import names, settings
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings
from shared.stores.sqlite_ledger import SqliteLedger
from shared.view import TicketView
from starter.inputs import read_jsonl
from tests.support.temporal import wait_for_state
from tests.support.tickets import start_ticket
from tests.support.workers import real_pipeline

pytestmark = pytest.mark.usefixtures("replay_check")

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "tickets.jsonl"


def outcome(view: TicketView) -> tuple[object, ...]:
    draft = view.draft
    return (
        view.state,
        view.category,
        view.priority,
        view.revision_rounds,
        tuple(view.review_reasons),
        [t.to_state for t in view.transitions],
        (draft.text, tuple(draft.cited_articles)) if draft else None,
    )


async def test_the_bundled_samples_end_the_same_with_and_without_the_sandbox(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    parsed, errors = read_jsonl(SAMPLES)
    assert errors == [] and len(parsed) >= 30
    outcomes: dict[bool, dict[str, tuple[object, ...]]] = {}
    for sandboxed in (True, False):
        queue = f"sandbox-{sandboxed}-{uuid.uuid4().hex[:6]}"
        prefix = "S-" if sandboxed else "U-"
        data = tmp_path / prefix
        data.mkdir()
        async with real_pipeline(ts_env.client, queue, data, sandboxed=sandboxed):
            handles = [
                await start_ticket(
                    ts_env.client,
                    queue,
                    p.ticket.model_copy(update={"ticket_id": prefix + p.ticket.ticket_id}),
                )
                for p in parsed
            ]
            views = [await wait_for_state(h, *SETTLED_STATES) for h in handles]
        outcomes[sandboxed] = {v.ticket_id.removeprefix(prefix): outcome(v) for v in views}

    assert outcomes[False] == outcomes[True]
    assert len(outcomes[False]) == len(parsed)


@pytest.mark.parametrize("sandboxed", [True, False])
async def test_every_worker_with_workflows_gets_the_runner_the_setting_asks_for(
    ts_env: WorkflowEnvironment, tmp_path: Path, sandboxed: bool
) -> None:
    config = PipelineConfig()
    providers = build_providers(config, WorkerSettings(), {})
    queue = f"runner-{uuid.uuid4().hex[:6]}"  # a queue of its own: one worker per queue a client
    workers = task_queue_workers.build_workers(
        ts_env.client,
        config,
        providers,
        [queue, names.delivery_task_queue(queue)],
        delivery=DeliveryActivities(SqliteLedger(tmp_path / "outbox.sqlite3")),
        tickets_queue=queue,
        sandboxed=sandboxed,
    )
    runners = [w.config().get("workflow_runner") for w in workers if w.config().get("workflows")]

    assert runners
    unsandboxed = [isinstance(r, UnsandboxedWorkflowRunner) for r in runners]
    assert unsandboxed == [not sandboxed] * len(runners)


@pytest.mark.parametrize(
    ("value", "sandboxed"), [(None, True), ("on", True), ("off", False), (" OFF ", False)]
)
def test_the_setting_reads_on_and_off(value: str | None, sandboxed: bool) -> None:
    env = {} if value is None else {"TICKETS_WORKFLOW_SANDBOX": value}
    assert settings.workflow_sandbox(env) is sandboxed


def test_any_other_value_is_refused_naming_the_variable() -> None:
    with pytest.raises(settings.ConfigError, match="TICKETS_WORKFLOW_SANDBOX must be on or off"):
        settings.workflow_sandbox({"TICKETS_WORKFLOW_SANDBOX": "false"})
