"""A batch cancelled while it checks its tickets in flight ends cancelled and starts no more
tickets (workflows/batch.py, patch cancel-during-check); one cancelled with tickets it could not
start again says so. On the dev server."""

import asyncio
import uuid

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.batch import BatchSettings, RestartsDone, TicketCheck, TicketRestarts, TicketSettled
from starter.batch_run import batch_left_running
from tests.support.batches import all_closed, progress, start_batch, tickets
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, wait_until
from tests.support.tickets import start_ticket
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


class SlowRestartFake:
    """A fake of the restart of refused tickets: says it began, then runs until cancelled."""

    def __init__(self) -> None:
        self.began = asyncio.Event()

    @activity.defn(name=names.RESTART_TICKETS)
    async def restart(self, restarts: TicketRestarts) -> RestartsDone:
        self.began.set()
        while True:
            activity.heartbeat()
            await asyncio.sleep(0.1)


@pytest.mark.usefixtures("replay_check")
async def test_a_batch_cancelled_while_restarting_tickets_says_they_may_not_have_started(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The refused tickets were counted in flight, and `batch --wait` said they went on to
    # their answers: they were never started (or not known to be).
    client = dev_env.client
    agents, services = FakeAgents(), FakeTicketServices()
    restarter = SlowRestartFake()
    batch = tickets(3)
    for ticket in batch[:2]:  # their ids held by runs that ended without an answer
        ended = await start_ticket(client, f"nobody-{uuid.uuid4().hex[:6]}", ticket)
        await ended.terminate("ended before the batch")
    activities = [*agents.activities(), *services.activities(), restarter.restart]
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        handle = await start_batch(client, task_queue, batch, BatchSettings(window=3))
        await asyncio.wait_for(restarter.began.wait(), 30)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        left = await progress(handle)
        await all_closed(client, batch[2:])

    assert (left.in_flight, left.restarting) == (3, 2)
    said = batch_left_running(left)
    assert "1 was in flight" in said and "2 were being started again" in said


@activity.defn(name=names.RESTART_TICKETS)
async def fake_restart_tickets_failing(restarts: TicketRestarts) -> RestartsDone:
    raise ApplicationError("fake: the activity fails for good", non_retryable=True)


@pytest.mark.usefixtures("replay_check")
async def test_tickets_whose_restart_failed_are_still_said_not_started_after_continue_as_new(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The set of them was the run's own: after a continue-as-new a cancelled batch said they
    # went on to their answers, though they were never started.
    client = dev_env.client
    gate = asyncio.Event()
    agents, services = FakeAgents(resolver_gate=gate), FakeTicketServices()
    batch = tickets(3)
    for ticket in batch[:2]:  # their ids held by runs that ended without an answer
        ended = await start_ticket(client, f"nobody-{uuid.uuid4().hex[:6]}", ticket)
        await ended.terminate("ended before the batch")
    activities = [*agents.activities(), *services.activities(), fake_restart_tickets_failing]
    async with fake_pipeline(client, task_queue, activities, services.agent_queue):
        # Two tickets a run: the two refused ones, then the third in a run of its own.
        settings = BatchSettings(window=3, tickets_per_run=2)
        handle = await start_batch(client, task_queue, batch, settings)

        async def third_in_flight() -> bool:
            return (await progress(handle)).in_flight == 3

        await wait_until(third_in_flight, timeout=30, what="the third ticket in flight")
        assert (await handle.describe()).run_id != handle.result_run_id  # continued as new
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        left = await progress(handle)
        gate.set()
        await all_closed(client, batch[2:])

    assert (left.in_flight, left.restarting) == (3, 2)
    assert "2 were being started again" in batch_left_running(left)
