"""``erase``'s check of running batches (starter/erase.py pending_in_batches) names only the
customer's tickets a batch has yet to start. It read where the batch's run began (its input's
position), which for a batch that never continued as new is 0 for its whole life: a ticket it
had started (and that erasure then deleted) stayed "pending" for good, and every erasure failed
while the batch ran."""

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from shared.batch import BatchProgress, BatchSettings
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
