"""A batch cancelled while it checks its tickets in flight ends cancelled and starts no more
tickets (workflows/batch.py, patch cancel-during-check). On the dev server."""

import asyncio

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.batch import BatchSettings, TicketCheck, TicketSettled
from tests.support.batches import all_closed, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids
from tests.support.workers import fake_pipeline
from workflows.batch_patches import CANCEL_DURING_CHECK


class SlowCheckFake:
    """A fake of the check of tickets in flight: says it began, then runs until cancelled."""

    def __init__(self) -> None:
        self.began = asyncio.Event()

    @activity.defn(name=names.CHECK_TICKETS)
    async def check(self, check: TicketCheck) -> list[TicketSettled]:
        self.began.set()
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)


@pytest.mark.usefixtures("replay_check")
async def test_a_batch_cancelled_during_its_check_starts_no_more_tickets(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Before: the check's cancellation was taken for a check that failed, the cancel was used
    # up, and the batch went on starting (and paying for) every ticket left, and completed.
    gate = asyncio.Event()
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    checker = SlowCheckFake()
    batch = tickets(4)
    settings = BatchSettings(window=2, check_after_seconds=1)
    activities = [*agents.activities(), *services.activities(), checker.check]
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        handle = await start_batch(dev_env.client, task_queue, batch, settings)
        await asyncio.wait_for(checker.began.wait(), 30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as ended:
            await handle.result()
        gate.set()
        await all_closed(dev_env.client, batch[:2])

    assert isinstance(ended.value.cause, CancelledError)
    for later in batch[2:]:
        ticket = dev_env.client.get_workflow_handle(names.ticket_workflow_id(later.ticket_id))
        with pytest.raises(RPCError) as missing:
            await ticket.describe()
        assert missing.value.status is RPCStatusCode.NOT_FOUND
    events = [e async for e in handle.fetch_history_events()]
    assert CANCEL_DURING_CHECK in patch_ids(events)
