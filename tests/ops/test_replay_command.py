"""`python -m starter replay`: the deploy gate that replays recent histories of every workflow
type against the code about to be deployed."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.worker import Worker

from shared import names
from shared.batch import BatchSettings
from shared.swarm import SwarmItem, SwarmSettings
from shared.tickets import Ticket
from shared.view import TicketRequest
from starter.batch_run import run_batch
from starter.fanout_runs import run_swarm
from starter.replay import replay_recent
from tests.ops.conftest import OpsServer
from tests.support.changed_workflow import TicketWorkflowWithATimerFirst
from tests.support.keys import key_ring_json
from tests.support.processes import run_cli
from tests.support.tickets import make_ticket
from tests.support.workers import real_pipeline
from workflows import ALL_WORKFLOWS, TicketWorkflow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EVERY_TYPE = [
    "TicketWorkflow",
    "OrchestratorWorkflow",
    "SubTaskWorkflow",
    "SwarmWorkflow",
    "SwarmChunkWorkflow",
    "BatchWorkflow",
]
# Registered too, replayed when running (a provider with adaptive_limit; the payload collection's
# schedule); none is started here.
RATE_CONTROLLER = "ProviderRateController"
PAYLOAD_GC = "PayloadGc"
RUN = uuid.uuid4().hex[:6]


def complex_ticket() -> Ticket:
    """Three billing questions: the offline agents orchestrate its first draft (an
    OrchestratorWorkflow child and its SubTaskWorkflows)."""
    return Ticket(
        ticket_id=f"RP-{RUN}-complex",
        subject="Refund, invoice and my card",
        body=(
            "I was charged twice in March, can I get a refund for the second charge? "
            "Where can I download the invoice for the first one? And how do I update the "
            "credit card we pay with, so the next invoice goes to the new one?"
        ),
    )


@pytest.fixture(scope="module")
async def histories(ops_server: OpsServer) -> AsyncIterator[None]:
    """Histories of every workflow type, made by this code: a batch of two tickets (one
    orchestrated) and a swarm of three reviews in chunks of two."""
    client = ops_server.client
    reviews = [
        SwarmItem(item_id=f"r{i}", text=f"Arrived quickly, works well, review {i}.")
        for i in range(3)
    ]
    async with real_pipeline(client, names.TICKETS_TASK_QUEUE, ops_server.data_dir):
        await run_batch(
            client,
            [complex_ticket(), make_ticket(ticket_id=f"RP-{RUN}-simple")],
            BatchSettings(window=2),
            f"batch-replay-{RUN}",
            wait=True,
        )
        await run_swarm(
            client, reviews, SwarmSettings(concurrency=2, chunk_size=2), f"swarm-replay-{RUN}"
        )
    yield


def test_histories_of_every_workflow_type_made_by_this_code_replay(
    ops_server: OpsServer, histories: None
) -> None:
    result = run_cli(ops_server.env, "replay", "--since", "1h", "--json")

    assert result.code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report["replayed"]) == [*EVERY_TYPE, RATE_CONTROLLER, PAYLOAD_GC]
    assert all(report["replayed"][t] >= 1 for t in EVERY_TYPE), report["replayed"]
    assert report["replayed"]["SwarmChunkWorkflow"] >= 2
    assert report["failures"] == []


async def test_a_changed_workflow_class_fails_the_replay_of_every_ticket_it_would_break(
    ops_server: OpsServer, histories: None
) -> None:
    changed = [TicketWorkflowWithATimerFirst if w is TicketWorkflow else w for w in ALL_WORKFLOWS]

    report = await replay_recent(ops_server.client, timedelta(hours=1), 100, changed)

    failed = {f.workflow_id for f in report.failures}
    assert {f"ticket-RP-{RUN}-complex", f"ticket-RP-{RUN}-simple"} <= failed
    assert {f.workflow_type for f in report.failures} == {"TicketWorkflow"}
    # This file's tickets: the server is shared with other files' (one of them stores payloads
    # in a data directory of its own, which the gate cannot read here).
    mine = [f for f in report.failures if f.workflow_id.startswith(f"ticket-RP-{RUN}")]
    assert all(f.error.startswith("NondeterminismError") for f in mine)
    assert report.replayed["OrchestratorWorkflow"] >= 1


async def test_the_gate_exits_1_naming_a_workflow_that_other_code_started(
    ops_server: OpsServer, histories: None
) -> None:
    client = ops_server.client
    workflow_id = f"ticket-RP-{RUN}-other-code"
    queue = f"other-code-{RUN}"
    async with Worker(client, task_queue=queue, workflows=[TicketWorkflowWithATimerFirst]):
        await client.execute_workflow(
            names.TICKET_WORKFLOW,
            TicketRequest(ticket=make_ticket()),
            id=workflow_id,
            task_queue=queue,
        )
    try:
        result = run_cli(ops_server.env, "replay", "--since", "1h")
    finally:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            )
        )

    assert result.code == 1, result.output
    assert result.stdout.startswith("Replayed "), "no log noise before the report"
    assert "NOT replayable on this code (1)" in result.stdout
    assert f"TicketWorkflow {workflow_id} (run " in result.stdout
    assert "NondeterminismError: [TMPRL1100] Nondeterminism error:" in result.stdout
    assert "error: 1 workflow history(ies) do not replay on this code" in result.stderr


async def test_a_gate_that_cannot_read_the_histories_says_so_rather_than_blame_the_code(
    ops_server: OpsServer, histories: None
) -> None:
    # Run without the workers' key ring (as without their TICKETS_DATABASE_URL): it printed a
    # 40-line traceback per history, then "do not replay on this code: a deploy would break
    # them", sending an operator after a determinism bug for a setting.
    elsewhere = ops_server.env | {"TICKETS_ENCRYPTION_KEYS": key_ring_json("not-the-workers")}

    result = run_cli(elsewhere, "replay", "--since", "1h", "--limit-per-type", "3")

    assert result.code == 1, result.output
    assert result.stdout.startswith("Replayed "), "no log noise before the report"
    assert "Traceback" not in result.output
    assert "its payloads cannot be read here: a payload is encrypted with key" in result.stdout
    assert "Not replayed, unreadable here (" in result.stdout
    assert "NondeterminismError" not in result.stdout and "NOT replayable" not in result.stdout
    assert " failed" not in result.stdout and "not readable here" in result.stdout
    assert "could not be replayed here, their payloads unreadable (a payload is encrypted" in (
        result.stderr
    )
    assert "give this process what the workers have" in result.stderr
    assert "a deploy would break them" not in result.stderr
