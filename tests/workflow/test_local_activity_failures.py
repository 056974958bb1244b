"""A ticket's local activities failing: the knowledge-base lookup, the configuration snapshot
and the first delivery attempt. On a worker with no workflow cache, so every workflow task
replays the history so far: a local activity's timeout reaches replayed code in another shape
than live code (workflows/local_activities.py), and a ticket whose replay took another path was
stuck RUNNING for good with its answer already sent. The timeouts are shortened for the test."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared.agents import KnowledgeArticle, KnowledgeQuery
from shared.view import DeliveryReceipt, DeliveryRequest
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, status
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import running
from workflows import ALL_WORKFLOWS, options

pytestmark = pytest.mark.timeout(90)


class SlowLocalDeliveryFake(FakeTicketServices):
    @activity.defn(name=names.DELIVER_RESPONSE_NOW)
    async def deliver_now(self, request: DeliveryRequest) -> DeliveryReceipt:
        await asyncio.sleep(5)  # a ledger write waiting on a database that is failing over
        return await self.deliver(request)


class BrokenKnowledgeBaseFake(FakeTicketServices):
    @activity.defn(name=names.SEARCH_KNOWLEDGE_BASE)
    async def search(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        raise ApplicationError(
            "the index is missing", type="KnowledgeBaseBroken", non_retryable=True
        )


class SlowKnowledgeBaseFake(FakeTicketServices):
    @activity.defn(name=names.SEARCH_KNOWLEDGE_BASE)
    async def search(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        await asyncio.sleep(5)
        return self.articles


@contextlib.asynccontextmanager
async def on_uncached_worker(
    client: Client, task_queue: str, services: FakeTicketServices
) -> AsyncIterator[WorkflowHandle]:
    agents = FakeAgents()
    workers = [
        Worker(
            client,
            task_queue=task_queue,
            workflows=ALL_WORKFLOWS,
            activities=[services.load_config, services.search, services.deliver_now],
            max_cached_workflows=0,  # every workflow task replays the history so far
            # Outside the sandbox, which imports workflows/options.py afresh: the shortened
            # timeouts below apply. (The history's replay check, tests/conftest.py, replays it
            # in the sandbox too.)
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
        Worker(client, task_queue=services.agent_queue, activities=agents.activities()),
        Worker(
            client, task_queue=names.delivery_task_queue(task_queue), activities=[services.deliver]
        ),
    ]
    async with running(workers):
        yield await start_ticket(client, task_queue, make_ticket())


async def patches(handle: WorkflowHandle) -> list[str]:
    """The patch ids the history recorded, in order."""
    return patch_ids([e async for e in handle.fetch_history_events()])


async def failed_tasks(handle: WorkflowHandle) -> list[str]:
    return [
        e.workflow_task_failed_event_attributes.failure.message[:200]
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    ]


async def test_a_local_delivery_that_timed_out_is_queued_and_the_ticket_completes_on_replay(
    ts_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(options, "LOCAL_DELIVERY_START_TO_CLOSE", timedelta(seconds=1))
    services = SlowLocalDeliveryFake()
    async with on_uncached_worker(ts_env.client, task_queue, services) as handle:
        # Before, its replay failed every workflow task (TMPRL1100) and it never completed.
        view = await asyncio.wait_for(handle.result(), timeout=30)
        assert await failed_tasks(handle) == []

    assert view.state is TicketState.COMPLETED
    assert len(services.deliveries) == 1  # by the queued attempt, once


async def test_a_knowledge_base_that_fails_fails_the_ticket_with_its_reason(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Before, the workflow failed with the ticket left in its last state, no reason on it and
    # its batch never told.
    async with on_uncached_worker(ts_env.client, task_queue, BrokenKnowledgeBaseFake()) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        view = await status(handle)
        described = await handle.describe()
        assert await failed_tasks(handle) == []
        # The ticket's version (stages-at-rest, which implies delivering-state) implies
        # local-failure-fails-ticket: no marker is recorded after the failed local activity's
        # (that did not replay reliably).
        assert await patches(handle) == ["stages-at-rest"]

    assert view.state is TicketState.FAILED
    assert view.failure is not None and "search_knowledge_base failed" in view.failure
    assert "KnowledgeBaseBroken" in view.failure
    assert described.typed_search_attributes.get(sa.TICKET_STATE) == TicketState.FAILED.value


async def test_a_knowledge_base_that_times_out_fails_the_ticket_and_its_status_still_reads(
    ts_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(options, "KB_START_TO_CLOSE", timedelta(seconds=1))
    monkeypatch.setattr(options, "KB_RETRY", RetryPolicy(maximum_attempts=1))
    async with on_uncached_worker(ts_env.client, task_queue, SlowKnowledgeBaseFake()) as handle:
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        view = await status(handle)  # replays the whole history: it failed with a TMPRL1100
        assert await failed_tasks(handle) == []

    assert view.state is TicketState.FAILED
    assert view.failure is not None and "search_knowledge_base timed out" in view.failure
