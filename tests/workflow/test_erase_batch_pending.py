"""``erase``'s check of running batches (starter/erase.py pending_in_batches) names only the
customer's tickets a batch has yet to start. It read where the batch's run began (its input's
position), which for a batch that never continued as new is 0 for its whole life: a ticket it
had started (and that erasure then deleted) stayed "pending" for good, and every erasure failed
while the batch ran."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.batch import BatchProgress, BatchSettings
from shared.history_references import workflow_exists
from shared.stores.config import StoreConfig
from shared.stores.factory import build_stores
from starter import erase
from starter.erase import Customer, pending_in_batches
from tests.support.batches import progress, start_batch
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket
from tests.support.workers import fake_pipeline


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_the_batch_started_is_not_pending_the_next_is(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    gate = asyncio.Event()  # drafting is held: the first ticket stays in flight
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    customer = f"C-{task_queue}"
    started, waiting = (make_ticket(customer_id=customer) for _ in range(2))
    activities = agents.activities() + services.activities()
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        handle = await start_batch(client, task_queue, [started, waiting], BatchSettings(window=1))

        async def one_started() -> BatchProgress | None:
            p = await progress(handle)
            return p if p.started == 1 else None

        await wait_until(one_started, what="the batch's first start")
        pending = await pending_in_batches(client, Customer(customer_id=customer), [])
        gate.set()
        await handle.result()

    assert pending == {handle.id: [waiting.ticket_id]}


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_the_batch_takes_but_the_intake_refuses_is_pending(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Read by the intake's rules, an item with a newer version's field (which the batch leaves
    # out and starts) was no ticket: not pending, and erase finished while the batch went on to
    # start it and send its answer (a review, 2026-12-07).
    client = dev_env.client
    gate = asyncio.Event()  # drafting is held: the first ticket stays in flight
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    customer = f"C-{task_queue}"
    started, later = (make_ticket(customer_id=customer) for _ in range(2))
    newer = later.model_dump(mode="json") | {"language": "de"}
    activities = agents.activities() + services.activities()
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        handle = await start_batch(
            client,
            task_queue,
            [started, newer],  # type: ignore[list-item]
            BatchSettings(window=1),
        )

        async def one_started() -> BatchProgress | None:
            p = await progress(handle)
            return p if p.started == 1 else None

        await wait_until(one_started, what="the batch's first start")
        pending = await pending_in_batches(client, Customer(customer_id=customer), [])
        gate.set()
        done = await handle.result()

    assert pending == {handle.id: [later.ticket_id]}
    assert done.started == 2  # the batch did start it


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_a_batch_starts_as_the_erasure_lists_is_named_not_passed_over(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Started between the listing and the batches' read, it was neither found nor pending: not
    # fenced, not deleted, not said, and erase exited 0 while it went on to send its answer (a
    # review, 2026-12-07).
    client = dev_env.client
    gate = asyncio.Event()  # the first ticket's drafting is held: the window stays full
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    customer = f"C-{task_queue}"
    ahead, mine = make_ticket(customer_id="someone-else"), make_ticket(customer_id=customer)
    real_find = erase.find_tickets

    async def listed_then_started(*args: Any) -> Any:
        found = await real_find(*args)
        gate.set()  # the batch moves on and starts the customer's ticket
        await wait_until(
            lambda: workflow_exists(client, names.ticket_workflow_id(mine.ticket_id)),
            what="the customer's ticket to start",
        )
        return found

    monkeypatch.setattr(erase, "find_tickets", listed_then_started)
    activities = agents.activities() + services.activities()
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        handle = await start_batch(client, task_queue, [ahead, mine], BatchSettings(window=1))
        await wait_until(lambda: agents.calls.get("draft"), what="the first ticket's draft")
        async with build_stores(StoreConfig(data_dir=tmp_path)) as stores:
            report = await erase.erase_customer(
                client, stores, Customer(customer_id=customer), really=True
            )
        await handle.result()

    assert report.tickets == []
    assert report.failed == [
        f"batch {handle.id} started 1 of this customer's ticket(s) ({mine.ticket_id}) as they "
        "were listed: not erased by this run; run erase again"
    ]


async def test_a_batch_holding_an_item_of_the_customer_s_is_reported_kept_whatever_its_state(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Only the batches of the tickets found were named: one terminated before it started the
    # customer's ticket, and one whose item of theirs was no ticket (never started), kept its
    # text in their inputs unsaid (a review, 2026-12-07).
    client = dev_env.client
    gate = asyncio.Event()  # the first ticket's drafting is held: the window stays full
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    customer = f"C-{task_queue}"
    ahead, mine = make_ticket(customer_id="someone-else"), make_ticket(customer_id=customer)
    invalid = {"customer_id": customer, "subject": "My card", "body": ""}
    activities = agents.activities() + services.activities()
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        stopped = await start_batch(client, task_queue, [ahead, mine], BatchSettings(window=1))
        await wait_until(lambda: agents.calls.get("draft"), what="the first ticket's draft")
        await stopped.terminate("an operator stopped it")
        gate.set()
        items = [make_ticket(), invalid]
        finished = await start_batch(client, task_queue, items, BatchSettings())  # type: ignore[arg-type]
        await finished.result()
        async with build_stores(StoreConfig(data_dir=tmp_path)) as stores:
            report = await erase.erase_customer(
                client, stores, Customer(customer_id=customer), really=False
            )

    assert report.tickets == []
    assert report.batches_kept == sorted([stopped.id, finished.id])
