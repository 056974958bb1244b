"""A delivery attempt's time and its cancellation: a send begun only with time left to send
and record it (checked again after waiting for another attempt's claim), and a record a
cancellation or a stalled database cannot leave half done. On SQLite and on PostgreSQL; the
channel is a fake that holds its sends until the test lets it go."""

import asyncio

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery.activity import DeliveryActivities
from activities.delivery.attempt_time import IN_PROGRESS_WAIT, claim_wait_within
from activities.delivery.config import WEBHOOK, DeliveryConfig, WebhookConfig
from shared import names
from shared.stores.ledger import DeliveryLedger, LedgerEntry
from shared.view import DeliveryReceipt
from tests.delivery.attempt_fakes import REQUEST, HeldChannelFake, refusals_of, worker
from tests.support.temporal import wait_until


def test_the_wait_for_a_claim_leaves_the_slowest_channels_send_room_in_the_attempt() -> None:
    def config(webhook_timeout: float) -> DeliveryConfig:
        hook = WebhookConfig("https://h.example/x", "s" * 32, timeout_seconds=webhook_timeout)
        return DeliveryConfig(default_method=WEBHOOK, webhook=hook)

    assert claim_wait_within(45, config(10)) == IN_PROGRESS_WAIT
    # 30 s of send and 10 s kept for marking the row sent (a database restarting) leave 5 s.
    assert claim_wait_within(45, config(30)) == 5
    assert claim_wait_within(45, config(44)) == 0  # no wait: fail for now at once


async def test_an_attempt_without_time_to_send_and_record_sends_nothing(
    ledger: DeliveryLedger,
) -> None:
    """A send begun with too little of the attempt left to mark it sent could time out after
    the send, and its retry would send again once the claim ran out."""
    import dataclasses
    from datetime import timedelta

    slow = HeldChannelFake()
    slow.release.set()
    slow.timeout_seconds = 40.0  # type: ignore[attr-defined]
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=45))
    with pytest.raises(ApplicationError) as unavailable:
        await env.run(worker(ledger, slow).deliver_response, REQUEST)
    quick = HeldChannelFake()
    quick.release.set()
    receipt: DeliveryReceipt = await env.run(worker(ledger, quick).deliver_response, REQUEST)

    # Not the destination's word: its retry delay is no Retry-After for the queued attempt to
    # honour (ticket_delivery), nor a failed send that pauses the channel's local attempts.
    assert unavailable.value.type == names.DELIVERY_OUT_OF_TIME_ERROR
    assert "too little of this attempt" in unavailable.value.message
    assert slow.sent == [] and quick.sent == ["Your answer."]  # no claim was left behind
    assert receipt.already_delivered is False


@pytest.mark.parametrize(("attempt", "wait"), [(1, 5), (3, 8), (12, 600)])
async def test_an_attempt_out_of_time_late_in_its_policy_waits_the_policys_backoff(
    ledger: DeliveryLedger, attempt: int, wait: int
) -> None:
    """A review (2026-12-07): an attempt out of time asked for its next one 5 s on, whatever
    its number, so a ledger slow for ten minutes (every attempt out of time) spent the policy's
    30 attempts and a ready answer ended DELIVERY_FAILED; a ledger down altogether got the
    policy's growing backoff and lasted hours."""
    import dataclasses
    from datetime import timedelta

    slow = HeldChannelFake()
    slow.release.set()
    slow.timeout_seconds = 40.0  # type: ignore[attr-defined]
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=attempt, start_to_close_timeout=timedelta(seconds=45)
    )
    with pytest.raises(ApplicationError) as unavailable:
        await env.run(worker(ledger, slow).deliver_response, REQUEST)

    assert unavailable.value.type == names.DELIVERY_OUT_OF_TIME_ERROR
    assert unavailable.value.next_retry_delay == timedelta(seconds=wait)
    assert slow.sent == []


async def test_a_cancellation_after_the_answer_was_sent_and_recorded_changes_nothing(
    ledger: DeliveryLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ticket cancelled just as a queued attempt ended: the cancellation landed while its
    heartbeats stopped, after the send and its record. Raised, it was said as "went out, not
    recorded" (the answer was carried as sent), and the ticket ended DELIVERY_FAILED with its
    row sent (seen once in a full run: test_cancelled_while_sending.py)."""
    import dataclasses
    from datetime import timedelta

    from activities import heartbeat

    async def cancelled_as_beats_stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        raise asyncio.CancelledError()

    monkeypatch.setattr(heartbeat, "stop_background", cancelled_as_beats_stop)
    channel = HeldChannelFake()
    channel.release.set()
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=30))

    receipt: DeliveryReceipt = await env.run(worker(ledger, channel).deliver_response, REQUEST)

    row = await ledger.get("T-1")
    assert channel.sent == ["Your answer."] and receipt.already_delivered is False
    assert row is not None and row.sent_at is not None


async def test_an_attempt_that_waited_for_anothers_claim_checks_its_time_again_before_sending(
    ledger: DeliveryLedger,
) -> None:
    """Its time was checked before the wait for the other attempt's claim, which may take up to
    20 s of it: once the claim came, it sent with less than the send and its record need, and
    could time out after sending (its retry sending again once the claim ran out)."""
    import dataclasses
    from datetime import timedelta

    first = HeldChannelFake()
    first.fail_next = True  # it fails for now and gives its claim back
    second = HeldChannelFake()
    second.release.set()
    second.timeout_seconds = 10.0  # type: ignore[attr-defined]
    refused = refusals_of(ledger)
    holding = asyncio.create_task(
        ActivityEnvironment().run(worker(ledger, first).deliver_response_now, REQUEST)
    )
    await first.started.wait()
    env = ActivityEnvironment()
    # Just enough for a 10 s send and the 10 s kept to record it, at the attempt's start.
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=20.6))
    queued = asyncio.create_task(env.run(worker(ledger, second).deliver_response, REQUEST))

    async def refused_once() -> bool:
        return any(refused)

    await wait_until(refused_once, what="the queued attempt waiting for the claim")
    first.release.set()  # the claim comes free about a second into the queued attempt
    with pytest.raises(RuntimeError, match="the connection was reset"):
        await holding
    with pytest.raises(ApplicationError) as late:
        await queued

    assert late.value.type == names.DELIVERY_OUT_OF_TIME_ERROR
    assert second.sent == []
    # It took no claim: a claim counts a send, and one given back unsent left the row counted
    # as sent once more than refused (it could no longer move to another channel).
    row = await ledger.get("T-1")
    assert row is not None and row.sends == 1
    quick = HeldChannelFake()
    quick.release.set()
    receipt: DeliveryReceipt = await ActivityEnvironment().run(
        worker(ledger, quick).deliver_response, REQUEST
    )
    assert quick.sent == ["Your answer."]  # it gave the claim back
    assert receipt.already_delivered is False


async def test_an_attempt_whose_claim_came_late_gives_it_back_uncounted_and_sends_nothing(
    ledger: DeliveryLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The time was checked before the claim, whose write may wait on a slow database (a pool
    waiting for a connection, another process's lock): the answer went out past the attempt's
    limit, unrecorded, and again once the claim ran out."""
    import dataclasses
    from datetime import timedelta

    real_claim = ledger.claim

    async def answered_late(*args: object, **kwargs: object) -> bool:
        taken = await real_claim(*args, **kwargs)  # type: ignore[arg-type]
        await asyncio.sleep(1.0)  # the database's answer, a second late (a stand-in's delay)
        return taken

    monkeypatch.setattr(ledger, "claim", answered_late)
    channel = HeldChannelFake()
    channel.release.set()
    channel.timeout_seconds = 10.0  # type: ignore[attr-defined]
    env = ActivityEnvironment()
    # Just enough for a 10 s send and the 10 s kept to record it, at the attempt's start.
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=20.6))
    with pytest.raises(ApplicationError) as late:
        await env.run(worker(ledger, channel).deliver_response, REQUEST)
    row = await ledger.get("T-1")

    assert late.value.type == names.DELIVERY_OUT_OF_TIME_ERROR
    assert channel.sent == []
    # The claim given back with its count: the row counts no send begun, and the next attempt
    # need not wait the claim out.
    assert row is not None and row.sends == 0
    assert await real_claim("T-1", "the-next-attempt", 60) is True


async def test_a_ledger_only_delivery_cancelled_while_marking_its_row_sent_returns_its_receipt(
    ledger: DeliveryLedger,
) -> None:
    """With no channel the row marked sent is the delivery. A cancellation (the ticket
    cancelled) landing during that write raised while the write went on: the ticket ended
    CANCELLED with its answer delivered, as the channels' record is not cut."""
    from activities.delivery.config import LEDGER

    marking = asyncio.Event()
    real = ledger.mark_sent

    async def slow_mark_sent(*args: object, **kwargs: object) -> LedgerEntry:
        write = asyncio.ensure_future(real(*args, **kwargs))  # type: ignore[arg-type]
        marking.set()
        await asyncio.sleep(0.2)
        return await write

    ledger.mark_sent = slow_mark_sent  # type: ignore[method-assign]
    acts = DeliveryActivities(ledger, DeliveryConfig(default_method=LEDGER))
    env = ActivityEnvironment()
    delivering = asyncio.create_task(env.run(acts.deliver_response_now, REQUEST))
    await marking.wait()
    env.cancel()
    receipt: DeliveryReceipt = await delivering

    row = await ledger.get("T-1")
    assert row is not None and row.sent_at is not None
    assert receipt.already_delivered is False and receipt.sent_at == row.sent_at


async def test_a_ledger_only_delivery_waits_for_a_stalled_database_a_try_s_time_at_most(
    ledger: DeliveryLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not cut by a cancellation, the mark waited for a stalled database as long as its pool
    or statement timeout allowed, holding the ticket's cancellation and the worker's stop."""
    from activities.delivery import activity as delivery_activity
    from activities.delivery.config import LEDGER

    stalled = asyncio.Event()

    async def stalled_mark_sent(*args: object, **kwargs: object) -> LedgerEntry:
        await stalled.wait()  # set only at the test's end: the database does not answer
        raise ConnectionError("the database never answered (fake)")

    monkeypatch.setattr(delivery_activity, "MARK_SENT_TRY_SECONDS", 0.2)
    ledger.mark_sent = stalled_mark_sent  # type: ignore[method-assign]
    acts = DeliveryActivities(ledger, DeliveryConfig(default_method=LEDGER))
    marking = asyncio.create_task(ActivityEnvironment().run(acts.deliver_response_now, REQUEST))
    try:
        await asyncio.wait({marking}, timeout=10)
        assert marking.done(), "the mark waited for the stalled database beyond its try"
        assert isinstance(marking.exception(), TimeoutError)
    finally:
        stalled.set()  # lets the stalled write end, whatever the code under test did
        await asyncio.gather(marking, return_exceptions=True)
