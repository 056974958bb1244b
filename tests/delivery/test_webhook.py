"""The webhook channel against a real HTTP receiver: signed requests that verify with the
documented recipe, one answer per ticket through retries, a refusal that ends in a named state,
and a hanging receiver that holds up nobody else."""

import re
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.delivery.config import DeliveryConfig, WebhookConfig, display_url
from policy.transitions import TicketState
from shared.delivery import text_sha256
from shared.view import TicketView
from starter.render import outcome_text
from tests.delivery.conftest import SECRET, asked, delivering, recorded, run_tickets, settle
from tests.support.processes import PROJECT_ROOT
from tests.support.temporal import replay_histories, status, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.webhook_receiver import Received, Reply, webhook_receiver

S = TicketState


def webhook(url: str, timeout: float = 5.0, concurrency: int = 16) -> DeliveryConfig:
    return DeliveryConfig(
        default_method="webhook",
        webhook=WebhookConfig(url=url, secret=SECRET, timeout_seconds=timeout),
        concurrency=concurrency,
    )


def documented_verify() -> Any:
    """The verification recipe exactly as docs/delivery.md prints it."""
    text = (PROJECT_ROOT / "docs" / "delivery.md").read_text()
    block = re.search(r"```python verify-webhook\n(.*?)```", text, re.S)
    assert block, "docs/delivery.md lost its verification recipe"
    namespace: dict[str, Any] = {}
    exec(block.group(1), namespace)
    return namespace["verify"]


async def test_a_delivered_answer_is_signed_and_verifies_with_the_documented_recipe(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    verify = documented_verify()
    ticket = make_ticket(channel="chat", customer_id="C-7")
    with webhook_receiver() as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url)):
            [view] = await run_tickets(dev_env.client, task_queue, [ticket], S.COMPLETED)
        [request] = receiver.snapshot()

    body = request.document
    assert view.draft is not None and body["text"] == view.draft.text
    assert body["event"] == "ticket.answer" and body["ticket_id"] == ticket.ticket_id
    assert body["text_sha256"] == text_sha256(view.draft.text)
    assert request.headers["Idempotency-Key"] == body["idempotency_key"]
    assert body["idempotency_key"] == view.delivery.idempotency_key
    assert verify(SECRET, request.headers, request.body) is True
    assert verify("another-secret-entirely", request.headers, request.body) is False
    assert verify(SECRET, request.headers, request.body.replace(b"Hello", b"Hallo")) is False
    stale = time.time() + 3600
    assert verify(SECRET, request.headers, request.body, now=stale) is False
    # A captured request sent again under another key: the receiver's dedup would miss it.
    forged = {**request.headers, "Idempotency-Key": f"{ticket.ticket_id}.forged"}
    assert verify(SECRET, forged, request.body) is False
    # Timestamps no signer writes are refused, not a receiver's 500: a superscript digit
    # (isdigit, not int), more digits than int() reads, an Arabic-Indic one (int, not ASCII).
    for timestamp in ("\u00b2", "9" * 5_000, "\u0661\u0667\u0660\u0660\u0660"):
        odd = {**request.headers, "X-Ticket-Timestamp": timestamp}
        assert verify(SECRET, odd, request.body) is False
    # A signature beyond ASCII (a header read as Latin-1) is refused: compare_digest raised on
    # it, and a receiver that copied the recipe answered anyone's request with a 500.
    for signature in ("v1=\u00e9", "v1=\udcff"):
        odd = {**request.headers, "X-Ticket-Signature": signature}
        assert verify(SECRET, odd, request.body) is False
    sent_to = view.delivery.sent_to
    assert view.delivery.sent_via == "webhook" and sent_to is not None
    assert sent_to == display_url(receiver.url) and "hooks" not in sent_to  # a path may be a key


async def test_a_500_then_a_200_delivers_the_same_answer_once(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def flaky(request: Received, earlier: int) -> Reply:
        return Reply(500, body="database hiccup") if earlier == 0 else Reply()

    ticket = make_ticket()
    with webhook_receiver(flaky) as receiver:
        async with delivering(
            dev_env.client, task_queue, tmp_path, webhook(receiver.url)
        ) as delivery:
            [view] = await run_tickets(dev_env.client, task_queue, [ticket], S.COMPLETED)
            entry = await delivery.ledger.get(ticket.ticket_id)
        requests = receiver.snapshot()

    assert [r.ticket_id for r in requests] == [ticket.ticket_id] * 2
    assert requests[0].body == requests[1].body  # the same recorded answer, byte for byte
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert entry is not None and entry.sent_at is not None and entry.attempts == 2
    assert view.delivery.already_delivered is False
    assert await delivery.ledger.count() == 1


async def test_a_429_s_retry_after_holds_the_queued_attempt_back(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """The local first attempt was told to wait (429, Retry-After: 3): the queued attempt, which
    the workflow schedules at once, asked again at once (a second request to a receiver that
    is shedding load) and honoured the wait only after its own 429."""

    def busy(request: Received, earlier: int) -> Reply:
        return Reply(429, headers={"Retry-After": "3"}) if earlier == 0 else Reply()

    ticket = make_ticket()
    with webhook_receiver(busy) as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url)):
            [view] = await run_tickets(dev_env.client, task_queue, [ticket], S.COMPLETED)
        requests = receiver.snapshot()

    assert [r.ticket_id for r in requests] == [ticket.ticket_id] * 2
    # Three seconds from the workflow task that ran the first attempt (a little before it).
    assert requests[1].at - requests[0].at >= 2.5
    assert view.delivery is not None and view.delivery.already_delivered is False


async def test_a_400_ends_the_ticket_in_delivery_failed_with_the_reason(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    def refuse(request: Received, earlier: int) -> Reply:
        return Reply(400, body='{"error": "unknown customer C-404"}')

    ticket = make_ticket(customer_id="C-404")
    with webhook_receiver(refuse) as receiver:
        async with delivering(
            dev_env.client, task_queue, tmp_path, webhook(receiver.url)
        ) as delivery:
            [view] = await run_tickets(dev_env.client, task_queue, [ticket], S.DELIVERY_FAILED)
            entry = await delivery.ledger.get(ticket.ticket_id)
            handle = dev_env.client.get_workflow_handle(
                f"ticket-{ticket.ticket_id}", result_type=TicketView
            )
            result = await handle.result()  # the workflow completes: nothing is left to retry
        assert len(receiver.snapshot()) == 1  # refused for good: no retry

    assert result.state == S.DELIVERY_FAILED
    assert view.failure is not None and "answered 400 Bad Request" in view.failure
    assert "unknown customer C-404" in view.failure and SECRET not in view.failure
    assert view.transitions[-1].to_state == S.DELIVERY_FAILED
    assert outcome_text(view).startswith("delivery failed: deliver_response failed: Delivery")
    assert (
        entry is not None and entry.sent_at is None and "answered 400" in (entry.last_error or "")
    )


@pytest.mark.usefixtures("replay_check")
async def test_a_receiver_that_hangs_does_not_stop_other_tickets(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    """Two tickets' requests hang; six others are delivered meanwhile. Once the receiver
    answers again, the hung ones go out too, once each."""
    stuck = [make_ticket(ticket_id=f"HANG-{n}-{make_ticket().ticket_id}") for n in range(2)]
    others = [make_ticket() for _ in range(6)]
    healthy = {"on": False}

    def hang_some(request: Received, earlier: int) -> Reply:
        if request.ticket_id.startswith("HANG-") and not healthy["on"]:
            return Reply(hang=True)
        return Reply()

    with webhook_receiver(hang_some) as receiver:
        config = webhook(receiver.url, timeout=1.5, concurrency=4)
        async with delivering(dev_env.client, task_queue, tmp_path, config) as delivery:
            stuck_handles = [await start_ticket(dev_env.client, task_queue, t) for t in stuck]
            hung = await settle(stuck_handles, S.DELIVERING)
            # Their histories so far replay (a worker without them cached answers a query so).
            await replay_histories(dev_env.client, [(h.id, None) for h in stuck_handles])
            done = await run_tickets(dev_env.client, task_queue, others, S.COMPLETED)
            for view in hung:  # still waiting for their delivery, the attempt timed out
                entry = await wait_until(
                    lambda t=view.ticket_id: _last_error(delivery, t), timeout=30
                )
                assert "did not answer within 1.5s" in entry
            for handle in stuck_handles:
                assert (await status(handle)).state == S.DELIVERING
            healthy["on"] = True
            receiver.release()
            finished = await settle(stuck_handles, S.COMPLETED)
        by_ticket = receiver.by_ticket()

    assert all(v.state == S.COMPLETED for v in done + finished)
    for view in finished:
        keys = {r.headers["Idempotency-Key"] for r in by_ticket[view.ticket_id]}
        assert len(keys) == 1 and len(by_ticket[view.ticket_id]) >= 2
    assert await delivery.ledger.count() == 8


async def _last_error(delivery: Any, ticket_id: str) -> str | None:
    entry = await delivery.ledger.get(ticket_id)
    return entry.last_error if entry is not None else None


async def test_the_same_ticket_sent_again_after_the_first_was_purged_is_answered_again(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # Retention purged the first ticket's workflow and the customer sent the same message
    # again, which derives the same id: a new workflow with that id (started here once the
    # first has closed, as the server allows). The first one's ledger row must not swallow it.
    ticket = make_ticket(channel="chat", customer_id="C-8")
    with webhook_receiver() as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url)):
            [first] = await run_tickets(dev_env.client, task_queue, [ticket], S.COMPLETED)
            [second] = await run_tickets(dev_env.client, task_queue, [ticket], S.COMPLETED)
        received = receiver.snapshot()

    assert [r.document["ticket_id"] for r in received] == [ticket.ticket_id] * 2
    assert first.delivery.already_delivered is False
    assert second.delivery.already_delivered is False
    assert first.delivery.idempotency_key != second.delivery.idempotency_key


async def test_a_receiver_that_trickles_its_answer_is_given_up_on_at_the_timeout() -> None:
    # The client's timeout applies to each read: a receiver sending a byte every 0.3 s kept
    # the attempt (and its claim, and a local attempt's workflow task slot) for as long as it
    # liked. The whole exchange is now bounded by the channel's timeout.
    from activities.delivery.errors import DeliveryUnavailable
    from activities.delivery.webhook import WebhookChannel

    entry, request = recorded("chat", "webhook"), asked("chat")

    from activities.delivery.errors import DeliveryRejected

    def trickle(request: Received, earlier: int) -> Reply:
        # A busy receiver's 503 trickled (what came of its words by the timeout is read), then
        # an acceptance trickled (it is not); then a 409: a receiver still working on this key,
        # which may well have the answer, is asked again (as a refusal for good, a redrive could
        # reroute the answer); then a refusal trickled.
        if earlier == 2:
            return Reply(409, body="key in use")
        if earlier == 3:
            return Reply(421, body="misdirected")  # another connection may reach the right one
        status = {0: 503, 1: 200, 4: 400}[earlier]
        return Reply(status, body="x" * 100, trickle=0.3)

    with webhook_receiver(trickle) as receiver:
        channel = WebhookChannel(WebhookConfig(url=receiver.url, secret=SECRET, timeout_seconds=1))
        try:
            started = time.monotonic()
            with pytest.raises(DeliveryUnavailable) as unavailable:
                await channel.send(entry, request)
            waited = time.monotonic() - started
            # Accepted at its status line: a slow rest must not make the answer go out twice.
            await channel.send(entry, request)
            with pytest.raises(DeliveryUnavailable, match="answered 409"):
                await channel.send(entry, request)
            with pytest.raises(DeliveryUnavailable, match="answered 421"):
                await channel.send(entry, request)
            # Its status line decides: a 400 whose body stalled was taken for a receiver that
            # did not answer, and retried for hours before DELIVERY_FAILED said so.
            with pytest.raises(DeliveryRejected) as rejected:
                await channel.send(entry, request)
        finally:
            await channel.aclose()
    assert waited < 10  # given up on at the timeout (1 s), not at the body's end (30 s)
    assert unavailable.value.reason.startswith(f"the webhook at {channel.where} answered 503")
    assert rejected.value.reason.startswith(f"the webhook at {channel.where} answered 400")
    assert len(receiver.snapshot()) == 5
