"""``erase`` while the customer's ticket is still running, on the dev server: what the ticket
starts between the erasure's listing and its deletion goes too, or is named.

A child started in that window (a ticket's orchestrator run, a run's sub-task) was terminated by
its parent's deletion instead of deleted, its input holding the customer's text, and no later
erase found it (its parent gone). (A new run of the ticket started in that window is named:
tests/unit/test_erase_partial.py.)"""

import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.history_references import workflow_exists
from shared.stores.config import StoreConfig
from shared.stores.factory import build_stores
from starter import erase
from starter.erase import Customer, ErasureReport, erase_customer
from tests.support.child_starting_ticket_workflow import (
    START_CHILD,
    ChildStartingTicketFake,
    WaitingChildFake,
)
from tests.support.temporal import wait_until

pytestmark = pytest.mark.integration


async def _erase_after(
    client: Client, tmp_path: Path, customer: str, monkeypatch: pytest.MonkeyPatch, meanwhile: Any
) -> ErasureReport:
    """Erase ``customer``, ``meanwhile`` running right after the tickets were listed."""
    real = erase.pending_in_batches

    async def listed_then(*args: Any) -> Any:
        await meanwhile()
        return await real(*args)

    monkeypatch.setattr(erase, "pending_in_batches", listed_then)
    async with build_stores(StoreConfig(data_dir=tmp_path)) as stores:
        return await erase_customer(client, stores, Customer(customer_id=customer), really=True)


async def _start(client: Client, queue: str, customer: str) -> tuple[str, Any]:
    ticket_id = f"T-MEANWHILE-{uuid.uuid4().hex[:8]}"
    request = {"ticket": {"ticket_id": ticket_id, "customer_id": customer, "body": "my order"}}
    handle = await client.start_workflow(
        ChildStartingTicketFake.run, request, id=names.ticket_workflow_id(ticket_id),
        task_queue=queue,
    )  # fmt: skip

    async def listed() -> bool:  # erase finds tickets through visibility
        query = f"WorkflowId = '{handle.id}'"
        return [e.run_id async for e in client.list_workflows(query)] == [handle.result_run_id]

    await wait_until(listed, what="the ticket in visibility")
    return request, handle


async def test_a_child_the_ticket_starts_while_it_is_erased_is_deleted_too(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, queue = dev_env.client, f"erase-meanwhile-{uuid.uuid4().hex[:8]}"
    customer = f"C-{uuid.uuid4().hex[:8]}"
    workflows = [ChildStartingTicketFake, WaitingChildFake]
    async with Worker(client, task_queue=queue, workflows=workflows):
        _, handle = await _start(client, queue, customer)
        child = f"{handle.id}/resolution"

        async def child_started() -> None:
            await handle.signal(START_CHILD)
            await wait_until(lambda: workflow_exists(client, child), what="the child's start")

        report = await _erase_after(client, tmp_path, customer, monkeypatch, child_started)

    assert report.failed == []
    [ticket] = report.tickets
    assert ticket.children == [child]
    assert not await workflow_exists(client, child)  # deleted, not only terminated
    assert not await workflow_exists(client, handle.id)
