"""`submit --wait` with the workflows' worker up but no worker on the agents' queue (workers split
by queue): it says so within a check instead of waiting out its timeout in silence. On the dev
server (pollers and visibility as a real server keeps them)."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import agents, names, waiting
from shared.agents import AgentRole
from shared.batch import BatchSettings
from shared.operation_errors import NoWorker
from shared.pipeline_config import PipelineConfig
from shared.queue_pollers import workers_polling
from starter.fanout_watch import require_workers, stranded_call_under
from tests.support.batches import start_batch
from tests.support.fakes import FakeTicketServices
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import running
from workflows import ALL_WORKFLOWS


@pytest.fixture
def workflows_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's own queue as the one the wait checks, and checks every 0.2 s, not 10 s."""
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(names, "TICKETS_TASK_QUEUE", queue)
    monkeypatch.setattr(waiting, "WORKER_CHECK_SECONDS", 0.2)
    return queue


def routes(count: int) -> PipelineConfig:
    chain = [
        agents.AgentRoute(provider=f"fake{uuid.uuid4().hex[:8]}", model="m") for _ in range(count)
    ]
    return PipelineConfig(routes={role: chain for role in AgentRole})


@asynccontextmanager
async def one_ticket_without_agents(
    client: Client, queue: str, services: FakeTicketServices
) -> AsyncIterator[str]:
    """The workflows' worker (no worker on any agent queue) and one ticket: its id. The ticket
    is terminated after."""
    worker = Worker(
        client, task_queue=queue, workflows=ALL_WORKFLOWS, activities=services.activities()
    )
    async with running([worker]):
        await wait_until(lambda: workers_polling(client, queue), what="the worker's first poll")
        handle = await start_ticket(client, queue, make_ticket())
        try:
            yield names.ticket_id_from_workflow_id(handle.id)
        finally:
            await handle.terminate("test over")


async def test_a_call_on_a_queue_no_worker_polls_ends_the_wait_naming_that_queue(
    dev_env: WorkflowEnvironment, workflows_queue: str
) -> None:
    services = FakeTicketServices(config=routes(1))
    async with one_ticket_without_agents(dev_env.client, workflows_queue, services) as ticket_id:
        with pytest.raises(NoWorker) as stopped:
            await waiting.wait_settled(
                dev_env.client, [ticket_id], timeout=60, interval=0.1, require_worker=True
            )

    assert str(stopped.value).startswith(
        f"no worker is polling the {services.agent_queue} task queue, where ticket {ticket_id}'s "
        "classify_ticket call waits"
    )
    assert f"--queues {services.agent_queue}" in str(stopped.value)


async def test_a_worker_check_the_server_cancels_is_asked_again_not_the_end_of_the_wait(
    dev_env: WorkflowEnvironment, workflows_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dev server answered one check "operation was canceled" during a full run, and the
    # whole wait (`submit --wait`) ended with that error. The check is advice: asked again.
    asked = 0

    async def cancelled_once(client: Client, queue: str) -> bool:
        nonlocal asked
        asked += 1
        if asked == 1:
            raise RPCError("operation was canceled", RPCStatusCode.CANCELLED, b"")
        return await workers_polling(client, queue)

    monkeypatch.setattr(waiting, "workers_polling", cancelled_once)
    services = FakeTicketServices(config=routes(1))
    async with one_ticket_without_agents(dev_env.client, workflows_queue, services) as ticket_id:
        with pytest.raises(NoWorker) as stopped:
            await waiting.wait_settled(
                dev_env.client, [ticket_id], timeout=60, interval=0.1, require_worker=True
            )

    assert asked >= 2
    assert f"no worker is polling the {services.agent_queue} task queue" in str(stopped.value)


async def test_a_call_that_will_hand_on_to_its_fallback_does_not_end_the_wait(
    dev_env: WorkflowEnvironment, workflows_queue: str
) -> None:
    # Neither route has a worker, but the first call gives up its queue after queue_wait_seconds
    # and goes to the fallback: the wait cannot say nothing will take it.
    services = FakeTicketServices(config=routes(2))
    async with one_ticket_without_agents(dev_env.client, workflows_queue, services) as ticket_id:

        async def pending() -> list[Any]:
            return await waiting.waiting_on(dev_env.client, ticket_id)

        # The call scheduled first (on a loaded machine it may take a moment), then the wait.
        await wait_until(pending, what="the classifier call pending")
        views = await waiting.wait_settled(
            dev_env.client, [ticket_id], timeout=2, interval=0.1, require_worker=True
        )
        calls = await waiting.waiting_on(dev_env.client, ticket_id)

    assert views[ticket_id].state == "NEW"  # still waiting for its classifier
    assert [(c.activity, c.hands_on, c.polled) for c in calls] == [("classify_ticket", True, False)]


async def test_waiting_for_a_batch_names_the_queue_its_tickets_agent_calls_wait_on(
    dev_env: WorkflowEnvironment, workflows_queue: str
) -> None:
    # `batch --wait` (and `plan --wait`, `swarm`) checked the tickets queue only: with the
    # agents' worker down it waited on its tickets' calls in silence, where `submit --wait`
    # names the queue.
    client = dev_env.client
    services = FakeTicketServices(config=routes(1))
    worker = Worker(
        client,
        task_queue=workflows_queue,
        workflows=ALL_WORKFLOWS,
        activities=services.activities(),
    )
    async with running([worker]):
        await wait_until(
            lambda: workers_polling(client, workflows_queue), what="the worker's first poll"
        )
        ticket = make_ticket()
        batch = await start_batch(client, workflows_queue, [ticket], BatchSettings(window=1))
        try:
            stranded = await wait_until(
                lambda: stranded_call_under(client, batch.id),
                what="the batch's ticket's call pending on its queue",
            )
            with pytest.raises(NoWorker) as stopped:
                await require_workers(client, batch.id, "the batch")
        finally:
            await batch.terminate("test over")
            await client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id)).terminate(
                "test over"
            )

    assert stranded.task_queue == services.agent_queue
    assert str(stopped.value).startswith(
        f"no worker is polling the {services.agent_queue} task queue, where a classify_ticket "
        "call of the batch waits"
    )
