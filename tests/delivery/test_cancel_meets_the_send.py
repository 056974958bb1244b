"""A ticket's cancel request and its queued delivery's success in one workflow task: the SDK
hands the workflow the cancellation, not the receipt (temporalio raises CancelledError when a
task is cancelled after the activity it awaits has completed), so the ticket said CANCELLED while
the ledger said its answer went out. Since cancel-reads-ledger (workflows/ticket_patches.py) the
ticket asks the ledger, the truth, and ends COMPLETED with the receipt.

The race is made, not waited for: the workflows' worker stops while the queued attempt sends;
the attempt completes, the ticket is cancelled, and a new workflows' worker gets both in one
workflow task. On the real dev server with a real webhook receiver and the SQLite ledger."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

import task_queue_workers
from activities.delivery.activity import DeliveryActivities
from activities.providers.registry import build_providers
from policy.transitions import TicketState
from shared.names import delivery_task_queue
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings
from shared.stores.ledger import LedgerEntry
from shared.stores.sqlite_ledger import SqliteLedger
from shared.view import TicketView
from tests.delivery.test_webhook import webhook
from tests.support.temporal import patch_ids, status, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.webhook_receiver import Received, Reply, webhook_receiver
from tests.support.workers import running
from workflows.ticket_patches import PATCH_CANCEL_READS_LEDGER, PATCH_STAGES_AT_REST

S = TicketState
ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
}
pytestmark = pytest.mark.usefixtures("replay_check")


@contextlib.asynccontextmanager
async def workers(
    client: Client, task_queue: str, delivery: DeliveryActivities, queues: list[str]
) -> AsyncIterator[None]:
    config = PipelineConfig()
    providers = build_providers(config, WorkerSettings(), {})
    built = task_queue_workers.build_workers(
        client, config, providers, queues, delivery=delivery, tickets_queue=task_queue
    )
    try:
        async with running(built):
            yield
    finally:
        for provider in providers.values():
            await provider.aclose()


@dataclass
class Ended:
    handle: WorkflowHandle[Any, Any]
    status: str  # the workflow's
    view: TicketView
    row: LedgerEntry | None
    received: list[Received]


async def cancelled_as_the_send_ends(
    client: Client,
    task_queue: str,
    data_dir: Path,
    answer: Reply,
    ledger_silent: bool = False,
) -> Ended:
    """A chat ticket whose local first attempt finds the webhook busy (503) and whose queued
    attempt's request is held while the workflows' worker stops; the request then gets
    ``answer``, and once the attempt's end is in the history the ticket is cancelled and a new
    workflows' worker takes both in one workflow task. ``ledger_silent``: the ledger fails every
    read from then on."""

    def busy_then_hold(request: Received, earlier: int) -> Reply:
        return Reply(status=503) if earlier == 0 else answer

    ticket = make_ticket(channel="chat")
    agent_queues = [
        q for q in task_queue_workers.needed_queues(PipelineConfig()) if q.startswith("llm-")
    ]
    workflow_queues = [task_queue, *agent_queues]
    with webhook_receiver(busy_then_hold) as receiver:
        ledger = SqliteLedger(data_dir / "outbox.sqlite3")
        delivery = DeliveryActivities(ledger, webhook(receiver.url, timeout=30.0))
        try:
            async with workers(client, task_queue, delivery, [delivery_task_queue(task_queue)]):
                async with workers(client, task_queue, delivery, workflow_queues):
                    handle = await start_ticket(client, task_queue, ticket)
                    await wait_until(lambda: len(receiver.snapshot()) >= 2, timeout=30)
                # No workflows' worker now: the held request answers, the attempt ends, and
                # then the cancel request comes.
                receiver.release()
                await wait_until(lambda: _ended_unseen(handle), timeout=30, what="its end")
                await handle.cancel()
                await wait_until(lambda: _cancel_requested(handle), timeout=30)
                if ledger_silent:
                    ledger.get = _unreadable  # type: ignore[method-assign]
                async with workers(client, task_queue, delivery, workflow_queues):
                    described = await wait_until(
                        lambda: _closed(handle), timeout=60, what="the ticket's end"
                    )
                    view = await status(handle)
            row = await SqliteLedger(data_dir / "outbox.sqlite3").get(ticket.ticket_id)
        finally:
            await delivery.aclose()
    assert described.status is not None
    return Ended(handle, described.status.name, view, row, receiver.snapshot())


async def test_a_cancel_that_meets_the_queued_sends_success_completes_the_ticket(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    ended = await cancelled_as_the_send_ends(dev_env.client, task_queue, tmp_path, Reply(hang=True))

    assert ended.row is not None and ended.row.sent_at is not None
    assert len(ended.received) == 2
    assert ended.status == "COMPLETED"
    assert ended.view.state == S.COMPLETED and ended.view.delivery is not None
    assert ended.view.delivery.sent_at == ended.row.sent_at
    key = ended.received[1].headers["Idempotency-Key"]
    assert ended.view.delivery.idempotency_key == key
    assert ended.view.delivery.sent_to is not None  # the webhook's address, as a send says
    assert await patches(ended.handle) == [PATCH_STAGES_AT_REST, PATCH_CANCEL_READS_LEDGER]


async def test_a_cancel_that_meets_the_queued_sends_refusal_stands(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Nothing went out (the webhook refused it for good): the ledger says so, and the ticket
    ends CANCELLED, as it did before the ledger was asked."""
    ended = await cancelled_as_the_send_ends(
        dev_env.client, task_queue, tmp_path, Reply(status=410, hang=True)
    )

    assert ended.row is not None and ended.row.sent_at is None
    assert ended.status == "CANCELED"
    assert ended.view.state == S.CANCELLED and ended.view.delivery is None
    assert await patches(ended.handle) == [PATCH_STAGES_AT_REST, PATCH_CANCEL_READS_LEDGER]


async def test_a_cancel_that_meets_the_send_stands_when_the_ledger_cannot_say(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """The lookup's own failure (a local activity's ApplicationError, after its retries) leaves
    the cancellation standing, as before the ledger was asked: the ticket ends CANCELLED, not
    failed, and with no failure of its own to show."""
    ended = await cancelled_as_the_send_ends(
        dev_env.client, task_queue, tmp_path, Reply(hang=True), ledger_silent=True
    )

    assert ended.row is not None and ended.row.sent_at is not None  # out, as the ledger knows
    assert ended.status == "CANCELED"
    assert ended.view.state == S.CANCELLED and ended.view.failure is None
    assert await patches(ended.handle) == [PATCH_STAGES_AT_REST, PATCH_CANCEL_READS_LEDGER]


async def _unreadable(ticket_id: str) -> LedgerEntry | None:
    raise OSError("the database is not answering")


async def _ended_unseen(handle: WorkflowHandle[Any, Any]) -> bool:
    """The queued delivery (the last activity scheduled) ended, and no workflow task has
    started since."""
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    scheduled = len(kinds) - 1 - kinds[::-1].index(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    ends = [i for i, k in enumerate(kinds) if i > scheduled and k in ACTIVITY_ENDS]
    return bool(ends) and EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED not in kinds[ends[0] :]


async def _cancel_requested(handle: WorkflowHandle[Any, Any]) -> bool:
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    return EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in kinds


async def _closed(handle: WorkflowHandle[Any, Any]) -> Any:
    described = await handle.describe()
    return described if described.close_time is not None else None


async def patches(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The patch ids the run recorded, in order."""
    return patch_ids([e async for e in handle.fetch_history_events()])
