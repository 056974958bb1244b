"""A ticket cancelled while its queued delivery attempt, having said in its heartbeat that the
answer went out, goes silent (its worker died before the ledger's record): the server retries no
activity whose cancel was requested, so the wait ends in the heartbeat timeout. The answer went
out: the ticket ends DELIVERY_FAILED for a redrive to record (``cancel-heeds-sent-heartbeat``),
not CANCELLED with the customer holding the answer."""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from policy.transitions import TicketState
from shared import names
from shared.delivery import SENT_DETAIL
from shared.view import DeliveryReceipt, DeliveryRequest
from tests.support.fakes import FakeAgents, FakeTicketServices
from tests.support.temporal import patch_ids, status, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import fake_pipeline
from workflows import options
from workflows.ticket_patches import PATCH_CANCEL_HEEDS_SENT_HEARTBEAT

pytestmark = pytest.mark.usefixtures("replay_check")


@dataclass
class SilentAfterSendingFake(FakeTicketServices):
    """The local attempt fails for now; the queued one says in its heartbeat that it sent the
    answer, then never reports again, as an attempt whose worker died before the ledger's record
    (the test lets it go at the end)."""

    gone: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name=names.DELIVER_RESPONSE_NOW)
    async def deliver_now(self, request: DeliveryRequest) -> DeliveryReceipt:
        raise ApplicationError("the destination is unavailable for now", type="Unavailable")

    @activity.defn(name=names.DELIVER_RESPONSE)
    async def deliver(self, request: DeliveryRequest) -> DeliveryReceipt:
        activity.heartbeat({SENT_DETAIL: f"key-of-{request.ticket_id}"})
        await self.gone.wait()
        raise RuntimeError("the worker that sent the answer is gone")


async def _sent_heartbeat_recorded(handle: WorkflowHandle[Any, Any]) -> bool | None:
    try:
        pending = (await handle.describe()).raw_description.pending_activities
    except RPCError:
        return None
    return any(p.heartbeat_details.payloads for p in pending) or None


async def test_a_ticket_cancelled_after_a_silent_attempt_said_it_sent_ends_delivery_failed(
    dev_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queued attempt's heartbeat timeout, 10 s in production, is what the test waits out.
    monkeypatch.setattr(options, "DELIVERY_HEARTBEAT", timedelta(seconds=2))
    agents, services = FakeAgents(), SilentAfterSendingFake()
    activities = agents.activities() + services.activities()
    ticket = make_ticket(channel="chat")
    async with fake_pipeline(dev_env.client, task_queue, activities, services.agent_queue):
        handle = await start_ticket(dev_env.client, task_queue, ticket)
        try:
            await wait_until(lambda: _sent_heartbeat_recorded(handle), what="the sent heartbeat")
            await handle.cancel()
            await handle.result()
            view = await status(handle)
        finally:
            services.gone.set()
        history = await handle.fetch_history()

    assert view.state == TicketState.DELIVERY_FAILED
    assert view.failure is not None and "the answer went out" in view.failure
    assert "redrive" in view.failure
    assert PATCH_CANCEL_HEEDS_SENT_HEARTBEAT in patch_ids(history.events)
