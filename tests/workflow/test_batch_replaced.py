"""A ticket of a batch whose run an operator ended and started again outside the batch (`submit`,
the API, `redrive`): the new run does not report to this batch, and the batch's check on quiet
tickets counts it REPLACED instead of holding its place until that run closes (a run waiting
for a person held it until the review or its deadline; a review, 2026-12-07)."""

import asyncio
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.ticket_activities import check_tickets
from shared import names
from shared.agents import AgentReply, Draft, DraftRequest
from shared.batch import REPLACED, BatchSettings, TicketCheck, TicketSettled
from tests.support.batches import all_closed, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, wait_until
from tests.support.tickets import start_ticket
from tests.support.workers import fake_pipeline
from workflows.batch_patches import REPLACED_COUNTED


@dataclass
class HeldAgents(FakeAgents):
    """The resolver holds the tickets in ``held`` until ``release`` is set."""

    held: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name=names.DRAFT_RESOLUTION)
    async def draft(self, request: DraftRequest) -> AgentReply[Draft]:
        if request.ticket.ticket_id in self.held:
            await self.release.wait()
        return await FakeAgents.draft(self, request)


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_started_again_outside_its_batch_does_not_hold_the_batch(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    gate = asyncio.Event()
    agents, services = HeldAgents(resolver_gate=gate), FakeTicketServices()
    batch = tickets(3)
    settings = BatchSettings(window=3, check_after_seconds=1)
    # The checks wait until the replacement runs: one between the terminate and the new start
    # would count the ended run TERMINATED, as it should, and leave nothing to test.
    replaced = asyncio.Event()

    @activity.defn(name=names.CHECK_TICKETS)
    async def check_once_replaced(check: TicketCheck) -> list[TicketSettled]:
        await replaced.wait()
        return await check_tickets(check)

    activities = [*agents.activities(), *services.activities(), check_once_replaced]
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        handle = await start_batch(dev_env.client, task_queue, batch, settings)
        await wait_until(
            lambda: len(agents.calls.get("draft", [])) == 3, what="three drafts in progress"
        )
        first = batch[0].ticket_id
        await dev_env.client.get_workflow_handle(names.ticket_workflow_id(first)).terminate(
            "an operator stopped it, to submit it again"
        )
        agents.held.add(first)  # the new run stays with the resolver: it does not close
        again = await start_ticket(dev_env.client, task_queue, batch[0])
        replaced.set()
        gate.set()
        result = await handle.result()
        await all_closed(dev_env.client, batch[1:])
        agents.release.set()
        await again.result()

    assert result.settled == {REPLACED: 1, "COMPLETED": 2}
    assert result.in_flight == 0 and result.failed == 0
    assert REPLACED_COUNTED in patch_ids((await handle.fetch_history()).events)


@pytest.mark.usefixtures("replay_check")
async def test_a_ticket_the_batch_started_again_itself_keeps_its_place(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Its id held by an ended run, the batch's restart activity starts it (no parent, its memo
    # names the batch's run): the batch's own, however many checks find it running.
    agents, services = HeldAgents(), FakeTicketServices()
    batch = tickets(2)
    agents.held.add(batch[0].ticket_id)
    ended = await start_ticket(dev_env.client, f"{task_queue}-nowhere", batch[0])
    await ended.terminate("ended before the batch")
    settings = BatchSettings(window=2, check_after_seconds=1)
    activities = [*agents.activities(), *services.activities(), check_tickets]
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        handle = await start_batch(dev_env.client, task_queue, batch, settings)

        async def checked_twice_with_it_held() -> bool:
            return _checks(await handle.fetch_history()) >= 2

        await wait_until(checked_twice_with_it_held, timeout=60, what="two checks")
        agents.release.set()
        result = await handle.result()
        await all_closed(dev_env.client, batch)

    assert result.settled == {"COMPLETED": 2}, result
    assert (result.started, result.in_flight) == (2, 0)


def _checks(history: WorkflowHistory) -> int:
    """How many of the batch's checks on quiet tickets have completed."""
    events = history.events
    scheduled = {
        e.event_id
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == names.CHECK_TICKETS
    }
    return sum(
        1
        for e in events
        if e.HasField("activity_task_completed_event_attributes")
        and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
    )
