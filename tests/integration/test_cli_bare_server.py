"""The command line against a bare `temporal server start-dev` (no ticket search attributes, no
worker), and with configuration it cannot use: one sentence each, never a stack trace, never a
wait that cannot end. (More configuration mistakes, in-process: tests/unit/test_cli_errors.py.)"""

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from shared import names
from shared.data_converter import data_converter
from shared.orchestration import OrchestratorInput
from shared.swarm import SwarmSettings, SwarmState
from starter.embedded import EmbeddedServer
from starter.fanout_runs import INPUT_DIGEST, input_digest, swarm_input
from starter.inputs import read_swarm_items
from tests.support.fake_fanout import FakeInsights, FakeOrchestrationAgents
from tests.support.fake_fanout import plan as fake_plan
from tests.support.fake_fanout import task as fake_task
from tests.support.processes import PROJECT_ROOT, environment, free_port, run_cli
from tests.support.workers import running
from workflows import ALL_WORKFLOWS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """What `temporal server start-dev` gives: no search attributes registered, no worker."""
    server = EmbeddedServer(
        tmp_path_factory.mktemp("bare"),
        "127.0.0.1",
        free_port(),
        ui=False,
        register_search_attributes=False,
    )
    asyncio.run(server.start())
    try:
        yield server
    finally:
        asyncio.run(server.stop())


def test_submit_registers_the_search_attributes_and_says_at_once_that_no_worker_runs(
    bare_server: EmbeddedServer, tmp_path: Path
) -> None:
    env = environment(bare_server.address, tmp_path)

    # The default --wait timeout is 300 s; run_cli gives up (failing the test) after 100 s.
    waited = run_cli(env, "submit", "--id", "BARE-1", "--subject", "Hi", "--body", "Help me.",
                     "--wait")  # fmt: skip

    assert waited.code == 1, waited.output
    assert "submitted  BARE-1" in waited.stdout
    warning, error = waited.stderr.strip().split("\n", 1)
    # This test's environment has no key ring: the ticket's text went out readable, and it says so.
    assert warning.startswith("warning: payload encryption OFF: ticket text is stored readable")
    assert error == (
        "error: no worker is polling the tickets task queue, so 1 ticket(s) wait on the server "
        "until one starts: run `python -m worker` against this server and namespace"
    )
    # The ticket search attributes exist now: a state filter (which needs them) works.
    listed = run_cli(env, "list", "--state", "NEW", "--json")
    assert listed.code == 0, listed.output
    assert [t["ticket_id"] for t in json.loads(listed.stdout)] == ["BARE-1"]


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["plan", "What is the refund policy?", "--wait"], "the plan"),
        (["swarm", str(PROJECT_ROOT / "samples" / "reviews.jsonl")], "the swarm"),
        (["batch", str(PROJECT_ROOT / "samples" / "tickets.jsonl"), "--wait"], "the batch"),
    ],
)
def test_a_fan_out_run_that_would_wait_says_at_once_that_no_worker_runs(
    bare_server: EmbeddedServer, tmp_path: Path, command: list[str], what: str
) -> None:
    # They sat at 0/? for minutes, saying nothing, where `submit --wait` says this at once.
    env = environment(bare_server.address, tmp_path)

    waited = run_cli(env, *command)

    assert waited.code == 1, waited.output
    assert waited.stderr.strip().endswith(
        f"error: no worker is polling the tickets task queue, so {what} would wait on the "
        "server until one starts: run `python -m worker` against this server and namespace"
    ), waited.output


async def _completed_on_another_queue(
    address: str, env: dict[str, str], workflow: str, args: list[Any], workflow_id: str, digest: str
) -> None:
    """The run the CLI would start under ``workflow_id``, completed by fake agents on a queue of
    its own: no worker ever polls the tickets queue of this server."""
    client = await Client.connect(address, data_converter=data_converter(env=env, key_ring=None))
    queue = f"elsewhere-{uuid.uuid4().hex[:8]}"
    insights = FakeInsights()
    orchestration = FakeOrchestrationAgents([fake_plan(fake_task("research-1"))])
    swarm = workflow == names.SWARM_WORKFLOW
    agents: Any = insights if swarm else orchestration
    calls = [insights.analyze] if swarm else orchestration.agent_activities()
    workers = [
        Worker(client, task_queue=queue, workflows=ALL_WORKFLOWS, activities=[agents.load_config]),
        Worker(client, task_queue=agents.queue, activities=calls),
    ]
    async with running(workers):
        handle = await client.start_workflow(
            workflow, args=args, id=workflow_id, task_queue=queue, memo={INPUT_DIGEST: digest}
        )
        await handle.result()


def test_a_completed_swarm_or_plan_is_shown_again_with_no_worker_running(
    bare_server: EmbeddedServer, tmp_path: Path
) -> None:
    # Both refused ("no worker is polling the tickets task queue") though the result was in the
    # run's history, and README says the same command shows it.
    env = environment(bare_server.address, tmp_path)
    source = tmp_path / "reviews.jsonl"
    source.write_text('{"id": "r1", "text": "Works well."}\n{"id": "r2", "text": "Broke."}\n')
    items, _ = read_swarm_items(source)
    swarm_id, swarm_digest = swarm_input(items, None)
    swarm_args = [items, SwarmState(settings=SwarmSettings())]
    task = "Summarise the refund policy."
    plan_id = f"plan-{uuid.uuid4().hex[:8]}"
    plan_args = [OrchestratorInput(task=task)]
    for workflow, args, workflow_id, digest in [
        (names.SWARM_WORKFLOW, swarm_args, swarm_id, swarm_digest),
        (names.ORCHESTRATOR_WORKFLOW, plan_args, plan_id, input_digest([task])),
    ]:
        asyncio.run(
            _completed_on_another_queue(
                bare_server.address, env, workflow, args, workflow_id, digest
            )
        )

    swarm = run_cli(env, "swarm", str(source), "--json")
    plan = run_cli(env, "plan", task, "--id", plan_id, "--wait", "--json")

    assert swarm.code == 0, swarm.output
    assert f"these items were analysed before ({swarm_id}); showing that run" in swarm.stderr
    shown = json.loads(swarm.stdout)
    assert shown["workflow_id"] == swarm_id and shown["result"]["succeeded"] == 2, shown
    assert plan.code == 0, plan.output
    assert f"{plan_id} planned this task before and completed; showing that run" in plan.stderr
    [outcome] = json.loads(plan.stdout)["result"]["outcomes"]
    assert outcome["status"] == "completed"


def test_a_batch_submitted_again_while_it_runs_says_it_started_nothing(
    bare_server: EmbeddedServer, tmp_path: Path
) -> None:
    # The second said "started batch-... with 2 ticket(s)", as if a second batch were under way.
    env = environment(bare_server.address, tmp_path)
    tickets = tmp_path / "two.jsonl"
    tickets.write_text(
        '{"ticket_id": "BARE-B1", "subject": "Hi", "body": "Help me."}\n'
        '{"ticket_id": "BARE-B2", "subject": "Hi", "body": "Help me too."}\n'
    )

    first = run_cli(env, "batch", str(tickets), "--id", "batch-bare-again")
    again = run_cli(env, "batch", str(tickets), "--id", "batch-bare-again")
    as_json = run_cli(env, "batch", str(tickets), "--id", "batch-bare-again", "--json")

    assert first.code == 0 and first.stdout.strip() == (
        "started batch-bare-again with 2 ticket(s)"
    ), first.output
    assert again.code == 0 and again.stdout.strip() == "batch-bare-again", again.output
    assert again.stderr.strip().endswith(
        "batch-bare-again was already running these 2 ticket(s); nothing new was started: the "
        "same command with --wait waits for it"
    ), again.output
    assert as_json.code == 0, as_json.output
    assert json.loads(as_json.stdout)["started"] is False


@pytest.mark.parametrize(
    ("variables", "sentence_start"),
    [
        pytest.param(
            {"TEMPORAL_CONFIG_FILE": "{tmp}/temporal.toml"},
            "error: configuration error: the Temporal connection configuration cannot be used: "
            "{tmp}/temporal.toml: Configuration loading error: TOML parse error",
            id="temporal-config-file-not-toml",
        ),
    ],
)
def test_configuration_the_client_cannot_use_is_one_sentence(
    bare_server: EmbeddedServer, tmp_path: Path, variables: dict[str, str], sentence_start: str
) -> None:
    (tmp_path / "temporal.toml").write_text("this is [not toml\n")
    filled = {k: v.format(tmp=tmp_path) for k, v in variables.items()}
    env = environment(bare_server.address, tmp_path, **filled)

    result = run_cli(env, "status", "BARE-1")

    assert result.code == 1
    assert result.stderr.startswith(sentence_start.format(tmp=tmp_path)), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
