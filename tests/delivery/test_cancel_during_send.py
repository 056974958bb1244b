"""A delivery attempt cancelled while its answer is on its way (the ticket cancelled, the worker
shutting down) finishes the send and records it in the ledger: cut midway, the answer could
reach the customer with the ledger saying it did not, and the attempt's claim held on for
nothing. A cancellation before the send still stops the attempt, with nothing sent. On SQLite
and on PostgreSQL (tests/delivery/attempt_fakes.py); the attempts run in the SDK's
activity environment, the channel is a fake that holds its send until the test lets it go."""

import asyncio

import pytest
from temporalio.testing import ActivityEnvironment

from shared.stores.ledger import DeliveryLedger
from shared.view import DeliveryReceipt
from tests.delivery.attempt_fakes import (
    REQUEST,
    HeldChannelFake,
    worker,
)


@pytest.mark.parametrize("attempt", ["queued", "local"])
async def test_a_cancellation_during_the_send_waits_for_it_and_its_record(
    ledger: DeliveryLedger,
    attempt: str,
) -> None:
    channel = HeldChannelFake()
    activities = worker(ledger, channel)
    env = ActivityEnvironment()
    run = activities.deliver_response if attempt == "queued" else activities.deliver_response_now
    sending = asyncio.create_task(env.run(run, REQUEST))
    await channel.started.wait()

    env.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the attempt while its send is held
    assert not sending.done()
    channel.release.set()
    receipt: DeliveryReceipt = await sending

    row = await ledger.get(REQUEST.ticket_id)
    assert channel.sent == ["Your answer."]
    assert row is not None and row.sent_at is not None
    assert receipt.sent_at == row.sent_at and receipt.already_delivered is False


async def test_a_cancellation_before_the_send_sends_nothing(
    ledger: DeliveryLedger,
) -> None:
    channel = HeldChannelFake()
    activities = worker(ledger, channel)
    env = ActivityEnvironment()
    held = asyncio.Event()
    record = ledger.record

    async def held_record(*args: object, **kwargs: object) -> object:
        held.set()
        await asyncio.Event().wait()  # until cancelled
        return await record(*args, **kwargs)  # type: ignore[arg-type]

    ledger.record = held_record  # type: ignore[method-assign]
    sending = asyncio.create_task(env.run(activities.deliver_response, REQUEST))
    await held.wait()
    env.cancel()

    with pytest.raises(asyncio.CancelledError):
        await sending
    assert channel.sent == []
    assert not channel.started.is_set()
