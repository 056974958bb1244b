"""TICKETS_WORKFLOW_SANDBOX=off: the workflows run without the SDK's sandbox and do exactly what
they do in it (the same commands: the unsandboxed histories replay in the sandbox)."""

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner

from policy.transitions import SETTLED_STATES, TicketState
from shared import names, settings
from shared.tickets import Ticket
from shared.view import TicketView
from starter.inputs import read_jsonl
from tests.support.temporal import replay_histories, wait_for_state
from tests.support.tickets import start_ticket
from tests.support.workers import built_workers, real_pipeline

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


async def run_samples(
    client: Client, tickets: list[Ticket], data: Path, prefix: str, **pipeline: Any
) -> dict[str, tuple[object, ...]]:
    """Each ticket, its id prefixed, through the pipeline until it rests: its outcome by id."""
    queue = f"sandbox-{uuid.uuid4().hex[:6]}"
    data.mkdir()
    async with real_pipeline(client, queue, data, **pipeline):
        handles = [
            await start_ticket(
                client, queue, t.model_copy(update={"ticket_id": prefix + t.ticket_id})
            )
            for t in tickets
        ]
        views = [await wait_for_state(h, *SETTLED_STATES, timeout=60) for h in handles]
    return {v.ticket_id.removeprefix(prefix): outcome(v) for v in views}


async def test_the_bundled_samples_end_the_same_with_and_without_the_sandbox(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    parsed, errors = read_jsonl(SAMPLES)
    assert errors == [] and len(parsed) >= 30
    tickets = [p.ticket for p in parsed]

    sandboxed = await run_samples(ts_env.client, tickets, tmp_path / "s", "S-")
    unsandboxed = await run_samples(ts_env.client, tickets, tmp_path / "u", "U-", sandboxed=False)

    assert unsandboxed == sandboxed
    assert len(unsandboxed) == len(parsed)
    # The unsandboxed runs' histories replay in the sandbox: the same commands. (The sandboxed
    # runs replay in tests/workflow/test_pipeline_offline.py; replaying them here too was a
    # third of this test's time.)
    unsandboxed_ids = [names.ticket_workflow_id("U-" + t.ticket_id) for t in tickets]
    assert await replay_histories(ts_env.client, [(i, None) for i in unsandboxed_ids]) >= len(
        tickets
    )


@pytest.mark.usefixtures("replay_check")
async def test_without_the_sandbox_a_worker_replaying_every_task_ends_the_same(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # No workflow cache: every task replays the history so far on the unsandboxed runner, which
    # a cached run would rarely do. Two tickets that go straight through, one that waits for a
    # person (a few: each query replays the whole history too).
    parsed, _ = read_jsonl(SAMPLES)
    chosen = [p.ticket for p in parsed if p.ticket.ticket_id in {"T-1001", "T-1002", "T-1006"}]
    assert len(chosen) == 3

    cached = await run_samples(ts_env.client, chosen, tmp_path / "s", "C-")
    replaying = await run_samples(
        ts_env.client, chosen, tmp_path / "u", "R-", sandboxed=False, max_cached_workflows=0
    )

    assert replaying == cached
    states = {o[0] for o in cached.values()}
    assert TicketState.COMPLETED in states and TicketState.AWAITING_REVIEW in states


@pytest.mark.parametrize("sandboxed", [True, False])
async def test_every_worker_with_workflows_gets_the_runner_the_setting_asks_for(
    ts_env: WorkflowEnvironment, tmp_path: Path, sandboxed: bool
) -> None:
    _, workers = built_workers(ts_env.client, tmp_path, "runner", sandboxed=sandboxed)
    # The runner each worker runs with, after the client's plugins had their say.
    active = [w.config(active_config=True) for w in workers]
    runners = [c.get("workflow_runner") for c in active if c.get("workflows")]

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
