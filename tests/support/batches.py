"""Batches in tests: tickets under fresh ids, starting a batch, waiting for its tickets' runs."""

import contextlib
import uuid
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from shared import names
from shared.batch import BatchProgress, BatchSettings, BatchState
from shared.tickets import Ticket
from tests.support.tickets import make_ticket


def tickets(n: int) -> list[Ticket]:
    prefix = uuid.uuid4().hex[:6]
    return [make_ticket(ticket_id=f"B{prefix}-{i:03d}", customer_id=f"C-{i % 3}") for i in range(n)]


async def fairness_keys(client: Client, batch: list[Ticket]) -> dict[str, str]:
    keys = {}
    for t in batch:
        handle = client.get_workflow_handle(names.ticket_workflow_id(t.ticket_id))
        info = (await handle.describe()).raw_description.workflow_execution_info
        keys[t.ticket_id] = info.priority.fairness_key
    return keys


async def start_batch(
    client: Client,
    task_queue: str,
    batch: list[Ticket],
    settings: BatchSettings,
    workflow_id: str | None = None,
    fairness_keys: dict[str, str] | None = None,
) -> WorkflowHandle[Any, BatchProgress]:
    state = BatchState(settings=settings, fairness_keys=fairness_keys or {})
    return await client.start_workflow(
        names.BATCH_WORKFLOW,
        args=[batch, state],
        id=workflow_id or f"batch-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=BatchProgress,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def all_closed(client: Client, batch: list[Ticket], failed_too: bool = False) -> None:
    """A ticket tells its batch it is at rest a moment before its own run ends: wait for those
    ends, so no ticket is left mid-task when the test's worker stops. ``failed_too``: a ticket
    that failed has ended too (otherwise its failure fails the test)."""
    for t in batch:
        handle = client.get_workflow_handle(names.ticket_workflow_id(t.ticket_id))
        if not failed_too:
            await handle.result()
            continue
        with contextlib.suppress(WorkflowFailureError):
            await handle.result()


async def progress(handle: WorkflowHandle[Any, Any]) -> BatchProgress:
    return await handle.query(names.PROGRESS_QUERY, result_type=BatchProgress)
