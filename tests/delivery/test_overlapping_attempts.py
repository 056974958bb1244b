"""Two delivery attempts of one ticket that overlap send once (activities/delivery/activity.py,
the ledger's claim): a local first attempt still sending when its workflow task timed out and
another worker's attempt began, on SQLite and on PostgreSQL. The channel is a fake that holds
its send until the test lets it go; the attempts run in the SDK's activity environment."""

import asyncio

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import WEBHOOK, DeliveryConfig
from activities.delivery.errors import DeliveryUnavailable
from activities.delivery.local_attempts import LOCAL_SEND_SLOTS
from shared import names
from shared.stores.ledger import DeliveryLedger, LedgerEntry
from shared.view import DeliveryReceipt, DeliveryRequest
from tests.delivery.attempt_fakes import REQUEST, HeldChannelFake, refusals_of, worker
from tests.support.temporal import wait_until


async def test_the_second_of_two_overlapping_attempts_sends_nothing_and_its_retry_finds_it_sent(
    ledger: DeliveryLedger,
) -> None:
    channel = HeldChannelFake()
    first, second = worker(ledger, channel), worker(ledger, channel)

    sending = asyncio.create_task(ActivityEnvironment().run(first.deliver_response_now, REQUEST))
    await channel.started.wait()
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(second.deliver_response_now, REQUEST)
    channel.release.set()
    receipt: DeliveryReceipt = await sending
    retried: DeliveryReceipt = await ActivityEnvironment().run(second.deliver_response, REQUEST)

    assert refused.value.type == names.DELIVERY_IN_PROGRESS_ERROR
    assert not refused.value.non_retryable
    # It cannot tell a send under way from a worker that died holding the claim: it says both.
    assert "sending now, or its worker stopped and its claim runs out" in refused.value.message
    assert channel.sent == ["Your answer."]
    assert receipt.already_delivered is False
    assert retried.already_delivered is True and retried.sent_at == receipt.sent_at


async def test_a_queued_attempt_waits_for_the_claim_instead_of_spending_its_retries(
    ledger: DeliveryLedger,
) -> None:
    """Each failure for now is one of the delivery's attempts: failing at once every 5 s spent
    a third of them while one claim held."""
    channel = HeldChannelFake()
    first, second = worker(ledger, channel), worker(ledger, channel)
    refused = refusals_of(ledger)
    sending = asyncio.create_task(ActivityEnvironment().run(first.deliver_response_now, REQUEST))
    await channel.started.wait()

    queued = asyncio.create_task(ActivityEnvironment().run(second.deliver_response, REQUEST))

    async def asked_twice() -> bool:
        return sum(refused) >= 2  # refused, waited, asked again: not failed at once

    await wait_until(asked_twice, what="the queued attempt waiting for the claim")
    channel.release.set()
    receipt: DeliveryReceipt = await sending
    waited: DeliveryReceipt = await queued  # no DeliveryInProgress: it waited and found it sent

    assert channel.sent == ["Your answer."]
    assert waited.already_delivered is True and waited.sent_at == receipt.sent_at


async def test_an_attempt_whose_send_failed_gives_its_claim_back(ledger: DeliveryLedger) -> None:
    channel = HeldChannelFake()
    channel.fail_next = True
    channel.release.set()
    activities = worker(ledger, channel)

    with pytest.raises(RuntimeError):
        await ActivityEnvironment().run(activities.deliver_response, REQUEST)
    receipt: DeliveryReceipt = await ActivityEnvironment().run(activities.deliver_response, REQUEST)

    assert channel.sent == ["Your answer."] and receipt.already_delivered is False


async def test_a_later_ticket_with_the_same_id_gets_its_own_answer_sent_with_a_new_key(
    ledger: DeliveryLedger,
) -> None:
    channel = HeldChannelFake()
    channel.release.set()
    activities = worker(ledger, channel)
    first_run = REQUEST.model_copy(update={"chain": "run-1"})
    second_run = REQUEST.model_copy(update={"chain": "run-2"})

    first: DeliveryReceipt = await ActivityEnvironment().run(activities.deliver_response, first_run)
    second: DeliveryReceipt = await ActivityEnvironment().run(
        activities.deliver_response, second_run
    )

    assert channel.sent == ["Your answer.", "Your answer."]
    assert (first.already_delivered, second.already_delivered) == (False, False)
    assert first.idempotency_key != second.idempotency_key


async def test_a_ticket_whose_id_another_is_still_delivering_waits_its_turn(
    ledger: DeliveryLedger,
) -> None:
    channel = HeldChannelFake()
    activities = worker(ledger, channel)
    sending = asyncio.create_task(
        ActivityEnvironment().run(
            activities.deliver_response, REQUEST.model_copy(update={"chain": "run-1"})
        )
    )
    await channel.started.wait()

    with pytest.raises(ApplicationError) as waiting:
        await ActivityEnvironment().run(
            activities.deliver_response, REQUEST.model_copy(update={"chain": "run-2"})
        )
    channel.release.set()
    await sending

    assert waiting.value.type == names.DELIVERY_IN_PROGRESS_ERROR
    assert "another ticket with the id T-1" in str(waiting.value)
    assert channel.sent == ["Your answer."]


def local_request(n: int) -> DeliveryRequest:
    return REQUEST.model_copy(update={"ticket_id": f"T-{n}"})


async def test_a_destination_that_hangs_holds_few_of_the_workers_workflow_task_slots(
    ledger: DeliveryLedger,
) -> None:
    """Each local attempt holds one of the worker's ten workflow task slots while it waits:
    sixteen (the delivery concurrency) hanging at once paused every other ticket on the worker.
    Only LOCAL_SEND_SLOTS send locally at once; the next is queued at once (DeliveryBusy)."""
    channel = HeldChannelFake()
    delivery = worker(ledger, channel)
    assert delivery.config.concurrency > LOCAL_SEND_SLOTS
    held = [
        asyncio.create_task(
            ActivityEnvironment().run(delivery.deliver_response_now, local_request(n))
        )
        for n in range(LOCAL_SEND_SLOTS)
    ]

    async def all_sending() -> bool:
        return delivery.local.sending_full

    await wait_until(all_sending, what="the local sends to start")
    with pytest.raises(ApplicationError) as busy:
        await ActivityEnvironment().run(delivery.deliver_response_now, local_request(99))
    channel.release.set()
    await asyncio.gather(*held)

    assert busy.value.type == names.DELIVERY_BUSY_ERROR and busy.value.non_retryable
    assert len(channel.sent) == LOCAL_SEND_SLOTS


async def test_after_a_local_send_failed_for_now_that_channels_local_attempts_are_skipped(
    ledger: DeliveryLedger,
) -> None:
    """A destination that is down: every new ticket's local attempt held a workflow task slot to
    find the same. After one failed, the next go to the queue at once, whose attempts still
    send."""
    channel = HeldChannelFake()
    channel.release.set()
    delivery = worker(ledger, channel)

    async def unavailable(entry: LedgerEntry, request: DeliveryRequest) -> None:
        raise DeliveryUnavailable("the webhook at receiver.example answered 503")

    channel.send = unavailable  # type: ignore[method-assign]
    with pytest.raises(ApplicationError) as failed:
        await ActivityEnvironment().run(delivery.deliver_response_now, local_request(1))
    del channel.send  # the destination is back
    with pytest.raises(ApplicationError) as skipped:
        await ActivityEnvironment().run(delivery.deliver_response_now, local_request(2))
    queued: DeliveryReceipt = await ActivityEnvironment().run(
        delivery.deliver_response, local_request(2)
    )

    assert failed.value.type == names.DELIVERY_UNAVAILABLE_ERROR
    assert skipped.value.type == names.DELIVERY_BUSY_ERROR
    assert "failed lately" in skipped.value.message
    assert queued.already_delivered is False and channel.sent == ["Your answer."]


async def test_a_ticket_refused_for_good_goes_out_by_the_channel_routed_after_the_fix(
    ledger: DeliveryLedger,
) -> None:
    """Chat tickets routed to e-mail (no address: refused for good); the operator routes them
    to the webhook and redrives. The row kept the channel of its first attempt, so the redrive
    was refused again, for good, and only editing the database got the answer out."""
    from activities.delivery.config import EMAIL
    from activities.delivery.errors import DeliveryRejected

    class NoAddressFake(HeldChannelFake):
        async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
            raise DeliveryRejected("ticket T-1 has no customer_email")

    before = DeliveryActivities(
        ledger, DeliveryConfig(default_method=EMAIL), channels={EMAIL: NoAddressFake()}
    )
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(before.deliver_response, REQUEST)
    webhook = HeldChannelFake()
    webhook.release.set()
    after = worker(ledger, webhook)  # routed to the webhook now
    receipt: DeliveryReceipt = await ActivityEnvironment().run(after.deliver_response, REQUEST)

    assert refused.value.type == names.DELIVERY_REJECTED_ERROR
    assert webhook.sent == ["Your answer."]
    assert receipt.sent_via == WEBHOOK and receipt.already_delivered is False
    entry = await ledger.get("T-1")
    assert entry is not None and entry.sent_via == WEBHOOK and entry.sent_at is not None


async def test_a_row_that_failed_only_for_now_keeps_its_channel(ledger: DeliveryLedger) -> None:
    """A send that failed for now may have reached the destination: it is never moved."""
    from activities.delivery.config import EMAIL

    down = HeldChannelFake()
    down.release.set()

    async def unavailable(entry: LedgerEntry, request: DeliveryRequest) -> None:
        raise DeliveryUnavailable("the SMTP server timed out")

    down.send = unavailable  # type: ignore[method-assign]
    before = DeliveryActivities(
        ledger, DeliveryConfig(default_method=EMAIL), channels={EMAIL: down}
    )
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(before.deliver_response, REQUEST)
    webhook = HeldChannelFake()
    webhook.release.set()
    with pytest.raises(ApplicationError) as unavailable_here:
        await ActivityEnvironment().run(worker(ledger, webhook).deliver_response, REQUEST)

    assert unavailable_here.value.type == names.DELIVERY_UNAVAILABLE_ERROR  # not configured
    assert webhook.sent == []
    entry = await ledger.get("T-1")
    assert entry is not None and entry.sent_via == EMAIL


async def test_a_row_refused_after_an_earlier_failure_for_now_keeps_its_channel(
    ledger: DeliveryLedger,
) -> None:
    """The first attempt timed out (the answer may have arrived), the second was refused: the
    row is not moved, or a redrive would send a second answer through another channel."""
    from activities.delivery.config import EMAIL
    from activities.delivery.errors import DeliveryRejected

    verdicts = iter(
        [DeliveryUnavailable("the SMTP server timed out"), DeliveryRejected("550 no mailbox")]
    )

    class FlakyThenRefusingFake(HeldChannelFake):
        async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
            raise next(verdicts)

    before = DeliveryActivities(
        ledger, DeliveryConfig(default_method=EMAIL), channels={EMAIL: FlakyThenRefusingFake()}
    )
    for _ in range(2):
        with pytest.raises(ApplicationError):
            await ActivityEnvironment().run(before.deliver_response, REQUEST)
    webhook = HeldChannelFake()
    webhook.release.set()
    with pytest.raises(ApplicationError) as not_here:
        await ActivityEnvironment().run(worker(ledger, webhook).deliver_response, REQUEST)

    assert not_here.value.type == names.DELIVERY_UNAVAILABLE_ERROR  # no email channel here
    assert webhook.sent == []
    entry = await ledger.get("T-1")
    assert entry is not None and entry.sent_via == EMAIL and entry.attempts == 2


async def test_a_row_taken_by_another_ticket_after_the_send_is_reported_sent_not_retried(
    ledger: DeliveryLedger,
) -> None:
    """Marking sent found another ticket's decision in the row (LookupError): the answer went
    out all the same, and the next attempt must be told, not send it again."""
    channel = HeldChannelFake()
    channel.release.set()
    delivery = worker(ledger, channel)
    marks = 0

    async def taken(ticket_id: str, key: str | None = None) -> LedgerEntry:
        nonlocal marks
        marks += 1
        raise LookupError("the row holds another decision")

    ledger.mark_sent = taken  # type: ignore[method-assign]
    import dataclasses

    local = ActivityEnvironment()
    local.info = dataclasses.replace(local.info, is_local=True)
    with pytest.raises(ApplicationError) as unrecorded:
        await local.run(delivery.deliver_response_now, REQUEST)

    assert unrecorded.value.type == names.DELIVERY_SENT_UNRECORDED_ERROR
    assert unrecorded.value.non_retryable and unrecorded.value.details
    assert marks == 1 and channel.sent == ["Your answer."]
