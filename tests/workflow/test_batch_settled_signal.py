"""A batch's ticket_settled signal with a state no ticket and no check reports is ignored
(``settled-state-checked``): anyone who may signal the batch can send one, and its state, of
any size, became a key of the settled counts (carried through every continue-as-new, shown in
progress and the result) and freed a place of a ticket still running. On the dev server."""

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.batch import BatchSettings
from tests.support.batches import all_closed, progress, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, wait_until
from tests.support.workers import fake_pipeline
from workflows.batch_patches import SETTLED_STATE_CHECKED


@pytest.mark.usefixtures("replay_check")
async def test_a_settled_signal_with_no_ticket_s_state_is_ignored(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    gate = asyncio.Event()
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    batch = tickets(1)
    activities = [*agents.activities(), *services.activities()]
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        handle = await start_batch(dev_env.client, task_queue, batch, BatchSettings(window=1))
        try:
            await wait_until(lambda: agents.calls.get("draft"), what="the draft in progress")
            bogus = {"ticket_id": batch[0].ticket_id, "state": "FINE" * 250}
            await handle.signal(names.TICKET_SETTLED_SIGNAL, bogus)
            # None, or two (a review, 2026-12-08): a TypeError that failed every workflow task.
            await handle.signal(names.TICKET_SETTLED_SIGNAL)
            await handle.signal(names.TICKET_SETTLED_SIGNAL, args=[bogus, bogus])
            meanwhile = await progress(handle)
        finally:
            gate.set()
        result = await handle.result()
        await all_closed(dev_env.client, batch)
        history = await handle.fetch_history()

    assert (meanwhile.in_flight, meanwhile.settled) == (1, {})  # its place still held
    assert result.settled == {"COMPLETED": 1}
    assert SETTLED_STATE_CHECKED in patch_ids(history.events)
    assert not [e for e in history.events if e.HasField("workflow_task_failed_event_attributes")]
