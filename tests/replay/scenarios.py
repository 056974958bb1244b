"""One scenario per workflow type, on the real offline agents.

Used twice: ``record_histories`` runs them once per release and commits what they produce, and
``test_workflow_cache_off`` runs them on a worker that keeps no workflow in its cache, so every
workflow task replays the whole history so far (as Temporal's own samples test determinism).

Each scenario starts its workflow on ``task_queue`` and returns the workflow id and its first
run id once it has closed; the histories to keep are that run, the runs it continued as, and
every child (``tests.support.temporal.histories``).
"""

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from shared import names
from shared.batch import BatchProgress, BatchSettings, BatchState
from shared.orchestration import OrchestratorInput, OrchestratorResult
from shared.swarm import (
    ItemResult,
    ReviewInsights,
    Sentiment,
    SwarmItem,
    SwarmResult,
    SwarmSettings,
    SwarmState,
)
from shared.tickets import Ticket
from shared.view import TicketRequest, TicketView
from starter.inputs import read_jsonl

PROJECT_ROOT = Path(__file__).resolve().parents[2]

Started = tuple[str, str | None]
Scenario = Callable[[Client, str, str], Awaitable[Started]]


def sample_ticket(ticket_id: str) -> Ticket:
    parsed, _ = read_jsonl(PROJECT_ROOT / "samples" / "tickets.jsonl")
    return next(p.ticket for p in parsed if p.ticket.ticket_id == ticket_id)


async def orchestrator(client: Client, task_queue: str, suffix: str) -> str:
    """A plan of several specialists with dependencies, and a synthesis."""
    workflow_id = f"replay-plan-{suffix}"
    handle = await client.start_workflow(
        names.ORCHESTRATOR_WORKFLOW,
        OrchestratorInput(
            task="Compare the refund policy and the cancellation fee for annual plans, and "
            "write a short answer for a customer who asks about both."
        ),
        id=workflow_id,
        task_queue=task_queue,
        result_type=OrchestratorResult,
    )
    await handle.result()
    return workflow_id, handle.first_execution_run_id


async def swarm(client: Client, task_queue: str, suffix: str) -> str:
    """Three chunks with a window of 4, continuing as new after two chunks."""
    workflow_id = f"replay-swarm-{suffix}"
    reviews = [
        "Works well and the support team answered within an hour.",
        "The export is broken again and nobody replies to my e-mails.",
        "Fine for the price, though the mobile app is slow.",
        "I love the new dashboard, it saves me time every day.",
        "Billing charged me twice; the refund took three weeks.",
    ]
    items = [SwarmItem(item_id=f"r{i:02d}", text=reviews[i % len(reviews)]) for i in range(12)]
    handle = await client.start_workflow(
        names.SWARM_WORKFLOW,
        args=[
            items,
            SwarmState(settings=SwarmSettings(concurrency=4, chunk_size=5, chunks_per_run=2)),
        ],
        id=workflow_id,
        task_queue=task_queue,
        result_type=SwarmResult,
    )
    await handle.result()
    return workflow_id, handle.first_execution_run_id


async def swarm_kept(client: Client, task_queue: str, suffix: str) -> str:
    """A rerun that keeps an earlier run's results: the first chunk's items all kept (no child
    for it), one item of the second kept, the third chunk run whole."""
    workflow_id = f"replay-swarm-kept-{suffix}"
    items = [SwarmItem(item_id=f"k{i:02d}", text=f"Review {i}: works well.") for i in range(12)]
    kept = {
        i.item_id: ItemResult(
            item_id=i.item_id,
            ok=True,
            output=ReviewInsights(sentiment=Sentiment.POSITIVE, key_points=["works well"]),
        )
        for i in [*items[:5], items[7]]
    }
    settings = SwarmSettings(concurrency=4, chunk_size=5, chunks_per_run=2)
    handle = await client.start_workflow(
        names.SWARM_WORKFLOW,
        args=[items, SwarmState(settings=settings, carried=kept)],
        id=workflow_id,
        task_queue=task_queue,
        result_type=SwarmResult,
    )
    await handle.result()
    return workflow_id, handle.first_execution_run_id


async def swarm_one_chunk(client: Client, task_queue: str, suffix: str) -> str:
    """Six items, three at a time, in one chunk of the default size: since single-chunk-inline
    the swarm runs them itself, before it in a child."""
    workflow_id = f"replay-swarm-one-chunk-{suffix}"
    items = [SwarmItem(item_id=f"o{i:02d}", text=f"Review {i}: works well.") for i in range(6)]
    handle = await client.start_workflow(
        names.SWARM_WORKFLOW,
        args=[items, SwarmState(settings=SwarmSettings(concurrency=3))],
        id=workflow_id,
        task_queue=task_queue,
        result_type=SwarmResult,
    )
    await handle.result()
    return workflow_id, handle.first_execution_run_id


async def batch(client: Client, task_queue: str, suffix: str) -> str:
    """Four tickets, all in flight at once, continuing as new after two; each ticket reports in.
    (With the workflow cache off, each ticket's first local activity costs a workflow-task
    timeout, 10 s: tickets that run side by side pay it once, not once per window.)"""
    workflow_id = f"replay-batch-{suffix}"
    parsed, _ = read_jsonl(PROJECT_ROOT / "samples" / "tickets.jsonl")
    tickets = [
        p.ticket.model_copy(update={"ticket_id": f"{p.ticket.ticket_id}-{suffix}"})
        for p in parsed[:4]
    ]
    handle = await client.start_workflow(
        names.BATCH_WORKFLOW,
        args=[tickets, BatchState(settings=BatchSettings(window=4, tickets_per_run=2))],
        id=workflow_id,
        task_queue=task_queue,
        result_type=BatchProgress,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    await handle.result()
    for t in tickets:  # children outlive the batch: wait for their own ends
        await client.get_workflow_handle(names.ticket_workflow_id(t.ticket_id)).result()
    return workflow_id, handle.first_execution_run_id


async def orchestrated_ticket(client: Client, task_queue: str, suffix: str) -> str:
    """A long, complex ticket: triage marks it complex and an orchestrator child drafts."""
    ticket = sample_ticket("T-1027").model_copy(update={"ticket_id": f"T-1027-{suffix}"})
    workflow_id = names.ticket_workflow_id(ticket.ticket_id)
    handle = await client.start_workflow(
        names.TICKET_WORKFLOW,
        TicketRequest(ticket=ticket),
        id=workflow_id,
        task_queue=task_queue,
        result_type=TicketView,
    )
    view = await handle.result()
    if view.orchestration is None:
        raise AssertionError(f"{ticket.ticket_id} was not drafted by an orchestrator run")
    return workflow_id, handle.first_execution_run_id


def new_suffix() -> str:
    return uuid.uuid4().hex[:6]


# name -> scenario; the recorder names files after the workflow type of each history.
SCENARIOS: dict[str, Scenario] = {
    "orchestrator": orchestrator,
    "swarm": swarm,
    "batch": batch,
    "orchestrated-ticket": orchestrated_ticket,
}
