"""`starter redrive` and an answer that went out but was never recorded (the ledger down through
every retry of its delivery): the redrive records the row sent and lets the delivery find it so,
instead of sending the customer a second copy. Its reading of the delivery's last failure is
checked on the real dev server, with a probe workflow whose delivery activity is a fake."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from shared import names
from shared.delivery import SENT_DETAIL, idempotency_key, text_sha256
from shared.stores.ledger import NewDelivery
from shared.stores.sqlite_ledger import SqliteLedger
from shared.view import DeliveryRequest
from starter.delivery_history import read_delivery
from starter.redrive import apply
from starter.redrive_plans import RedriveItem, RedriveReport, plan_delivery_failed

pytestmark = pytest.mark.integration


@workflow.defn(name="RedriveProbeWorkflow")
class RedriveProbeWorkflow:
    """Schedules one queued delivery attempt (no retries) and ends, whatever it did."""

    @workflow.run
    async def run(self, request: DeliveryRequest) -> str:
        try:
            await workflow.execute_activity(
                names.DELIVER_RESPONSE,
                request,
                start_to_close_timeout=timedelta(seconds=30),
                heartbeat_timeout=timedelta(seconds=1),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError:
            return "failed"
        return "delivered"


@activity.defn(name=names.DELIVER_RESPONSE)
async def delivery_fake(request: DeliveryRequest) -> None:
    """The request's text: what to do, then the idempotency key of the answer it pretends it
    sent."""
    how, key = request.text.split(" ")
    if how == "said-sent":  # the shape activities/delivery/activity.py gives it
        raise ApplicationError("went out, not recorded", key, type="DeliverySentUnrecorded")
    if how == "timed-out-after-sending":
        activity.heartbeat({SENT_DETAIL: key})
        await asyncio.sleep(5)  # past the heartbeat timeout, with no beat
    if how == "crashed":
        # Its last attempt ends in a way that says nothing of the send (a worker's crash or
        # shutdown reaches the history as a timeout or a cancel; a plain error here).
        raise RuntimeError("worker shutting down")
    raise OSError("could not connect to the database")


async def test_the_redrive_reads_a_queued_requests_own_word_that_the_answer_went_out(
    dev_env: WorkflowEnvironment,
) -> None:
    # The workflow passes on the local attempt's word that the answer went out (sent_key).
    item = await probe(dev_env, "crashed", sent_key="k-9")
    assert (await read_delivery(dev_env.client, item.workflow_id, item.run_id)).sent_key == "k-9"


async def probe(
    env: WorkflowEnvironment, how: str, key: str = "key-1", sent_key: str | None = None
) -> RedriveItem:
    queue = f"redrive-probe-{uuid.uuid4().hex[:8]}"
    request = DeliveryRequest(
        ticket_id="T-1",
        channel="chat",
        customer_id="C-1",
        revision=1,
        text=f"{how} {key}",
        sent_key=sent_key,
    )
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[RedriveProbeWorkflow],
        activities=[delivery_fake],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await env.client.start_workflow(
            RedriveProbeWorkflow.run, request, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        assert await handle.result() == "failed"
    return RedriveItem(
        ticket_id="T-1",
        workflow_id=handle.id,
        run_id=handle.result_run_id or "",
        action="skip",
        why="",
    )


@pytest.mark.parametrize(
    ("how", "key"),
    [("said-sent", "key-1"), ("timed-out-after-sending", "key-1"), ("ledger-down", None)],
)
async def test_the_redrive_reads_whether_the_last_delivery_attempt_said_the_answer_went_out(
    dev_env: WorkflowEnvironment, how: str, key: str | None
) -> None:
    item = await probe(dev_env, how)
    assert (await read_delivery(dev_env.client, item.workflow_id, item.run_id)).sent_key == key


async def _ledger_with_the_decision(tmp_path: Path) -> tuple[SqliteLedger, str]:
    """A ledger holding ticket T-1's decided answer (not sent), and its idempotency key."""
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    digest = text_sha256("We refunded you.")
    key = idempotency_key("T-1", digest, "chain-1")
    await ledger.record(
        NewDelivery(
            ticket_id="T-1",
            channel="chat",
            customer_id="C-1",
            revision=1,
            body="We refunded you.",
            text_sha256=digest,
            idempotency_key=key,
            sent_via="webhook",
            chain="chain-1",
        )
    )
    return ledger, key


async def test_an_answer_that_went_out_unrecorded_is_recorded_sent_not_sent_again(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    ledger, key = await _ledger_with_the_decision(tmp_path)
    item = await probe(dev_env, "said-sent", key)
    item.chain = "chain-1"

    planned = await plan_delivery_failed(dev_env.client, ledger, item)
    assert planned.action == "record-sent" and "not sending it again" in planned.why
    report = RedriveReport(
        state="DELIVERY_FAILED", since=datetime.now(UTC), applied=False, tickets=[planned]
    )
    await apply(dev_env.client, ledger, report)

    entry = await ledger.get("T-1")
    assert entry is not None and entry.sent_at is not None
    assert planned.error is None and planned.new_run_id not in (None, planned.run_id)
    await ledger.close()


async def test_a_ticket_whose_row_is_marked_sent_is_reset_to_complete_not_left_failed(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # A record-sent whose reset failed (the server away) left the row sent and the ticket
    # DELIVERY_FAILED; the next redrive skipped it as "sent", for good.
    ledger, key = await _ledger_with_the_decision(tmp_path)
    await ledger.mark_sent("T-1", key)
    item = await probe(dev_env, "ledger-down", key)
    item.chain = "chain-1"

    planned = await plan_delivery_failed(dev_env.client, ledger, item)

    assert planned.action == "redeliver" and "finds it sent" in planned.why
    assert planned.reset_event_id is not None
    await ledger.close()
