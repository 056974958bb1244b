"""A ticket cancelled while its answer is being sent (the cancel-waits-for-send version,
workflows/ticket_patches.py): the cancellation waits for the delivery attempt that is sending,
and an answer that went out ends the ticket COMPLETED with its receipt, the workflow completed;
before, the ticket said CANCELLED with no delivery while the customer got the answer. A delivery
waiting between retries is still cancelled at once. On the real dev server with a real webhook
receiver that holds a request until the test lets it go."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.delivery import mark_sent
from policy.transitions import TicketState
from shared.view import TicketView
from tests.delivery.conftest import delivering, settle
from tests.delivery.test_unrecorded_send import LedgerDownForMarksFake
from tests.delivery.test_webhook import webhook
from tests.support.temporal import cancel_seen, status, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.webhook_receiver import Received, Reply, webhook_receiver

S = TicketState
pytestmark = pytest.mark.usefixtures("replay_check")


async def _cancelled_mid_send(
    env: WorkflowEnvironment, task_queue: str, tmp_path: Path, script: Any, sends: int
) -> tuple[TicketView, str, list[Received], Any]:
    """Start a ticket, cancel it once the receiver holds its ``sends``-th request, let the
    request answer once the workflow saw the cancellation; the ticket's end, its workflow's
    status, what the receiver got, and the ledger's row."""
    ticket = make_ticket(channel="chat")
    with webhook_receiver(script) as receiver:
        config = webhook(receiver.url, timeout=30.0)
        async with delivering(env.client, task_queue, tmp_path, config) as delivery:
            # A local attempt's task reports in (and sees the cancel) after 2.4 s, not 8 s.
            handle = await start_ticket(env.client, task_queue, ticket, timedelta(seconds=3))
            await wait_until(lambda: len(receiver.snapshot()) >= sends, timeout=30)
            await handle.cancel()
            await wait_until(lambda: cancel_seen(handle), timeout=30, what="the cancel seen")
            receiver.release()
            described = await wait_until(lambda: _closed(handle), timeout=30, what="its end")
            view = await status(handle)
            row = await delivery.ledger.get(ticket.ticket_id)
        return view, described.status.name, receiver.snapshot(), row


async def test_a_ticket_cancelled_during_its_first_attempts_send_completes_with_the_answer(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def hold(request: Received, earlier: int) -> Reply:
        return Reply(hang=True)

    view, ended, received, row = await _cancelled_mid_send(dev_env, task_queue, tmp_path, hold, 1)

    assert view.state == S.COMPLETED and view.delivery is not None and ended == "COMPLETED"
    assert len(received) == 1
    assert row is not None and row.sent_at is not None
    assert view.delivery.idempotency_key == received[0].headers["Idempotency-Key"]


async def test_a_ticket_cancelled_during_a_queued_attempts_send_completes_with_the_answer(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def busy_then_hold(request: Received, earlier: int) -> Reply:
        # The local first attempt finds the receiver busy; the queued one's request is held.
        return Reply(status=503) if earlier == 0 else Reply(hang=True)

    view, ended, received, row = await _cancelled_mid_send(
        dev_env, task_queue, tmp_path, busy_then_hold, 2
    )

    assert view.state == S.COMPLETED and view.delivery is not None and ended == "COMPLETED"
    assert len(received) == 2
    assert row is not None and row.sent_at is not None


@pytest.mark.parametrize("attempt", ["local", "queued"])
async def test_a_cancellation_stands_when_the_send_it_waited_for_failed(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, attempt: str
) -> None:
    """Nothing went out: the ticket ends CANCELLED. Not queued for hours of retries that would
    send it after all (the local attempt), not DELIVERY_FAILED, which a redrive would send (the
    queued one)."""
    held = 0 if attempt == "local" else 1

    def fails_when_held(request: Received, earlier: int) -> Reply:
        if earlier < held:
            return Reply(status=503)
        return Reply(status=503, hang=True) if earlier == held else Reply()

    view, ended, received, row = await _cancelled_mid_send(
        dev_env, task_queue, tmp_path, fails_when_held, held + 1
    )

    assert view.state == S.CANCELLED and view.delivery is None and ended == "CANCELED"
    assert len(received) == held + 1
    assert row is not None and row.sent_at is None


async def test_a_ticket_whose_delivery_waits_between_retries_is_cancelled_at_once(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def unavailable(request: Received, earlier: int) -> Reply:
        return Reply(status=503, headers={"Retry-After": "600"})

    ticket = make_ticket(channel="chat")
    with webhook_receiver(unavailable) as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url)) as d:
            handle = await start_ticket(dev_env.client, task_queue, ticket)
            await settle([handle], S.DELIVERING, timeout=30)
            # The queued delivery waits out the local attempt's Retry-After between its
            # attempts (its first ends at once, asking the receiver nothing).
            await wait_until(lambda: _between_retries(handle), timeout=30)
            await handle.cancel()
            described = await wait_until(
                lambda: _closed(handle), timeout=15, what="the ticket cancelled"
            )
            row = await d.ledger.get(ticket.ticket_id)

    assert described.status is not None and described.status.name == "CANCELED"
    assert row is not None and row.sent_at is None
    assert len(receiver.snapshot()) == 1  # the local attempt's; none while told to wait


async def _between_retries(handle: WorkflowHandle[Any, Any]) -> bool:
    described = await handle.describe()
    return any(p.attempt >= 2 for p in described.raw_description.pending_activities)


async def _closed(handle: WorkflowHandle[Any, Any]) -> Any:
    described = await handle.describe()
    return described if described.close_time is not None else None


async def test_an_answer_out_but_unrecorded_when_the_ticket_is_cancelled_ends_delivery_failed(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local attempt sent and the ledger could not record it (the database down); the
    queued attempt, which only records it, waits between retries when the ticket is cancelled.
    The answer went out: DELIVERY_FAILED with the reason, which a redrive records, not CANCELLED
    with a ledger saying nothing was sent."""
    monkeypatch.setattr(mark_sent, "MARK_SENT_PAUSES", (0.01,) * len(mark_sent.MARK_SENT_PAUSES))
    ledger = LedgerDownForMarksFake(tmp_path / "outbox.sqlite3", failing=10_000)
    ticket = make_ticket(channel="chat")
    with webhook_receiver() as receiver:
        config = webhook(receiver.url)
        async with delivering(dev_env.client, task_queue, tmp_path, config, ledger):
            handle = await start_ticket(dev_env.client, task_queue, ticket)
            await settle([handle], S.DELIVERING, timeout=30)
            tries = len(mark_sent.MARK_SENT_PAUSES) + 1
            await wait_until(lambda: ledger.marks >= 2 * tries, timeout=30, what="a queued try")
            await handle.cancel()
            described = await wait_until(lambda: _closed(handle), timeout=30, what="its end")
            view = await status(handle)

    assert described.status is not None and described.status.name == "COMPLETED"
    assert view.state == S.DELIVERY_FAILED
    assert view.failure is not None and "redrive" in view.failure
    assert len(receiver.snapshot()) == 1
