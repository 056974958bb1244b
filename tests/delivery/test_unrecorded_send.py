"""An answer that went out while the ledger could not record it is not sent again: the attempt
tries the write again for a few seconds, tells the server it sent (heartbeat details) and, as a
local first attempt, tells the workflow, which passes it to the queued attempt. Before, the
next attempt waited the claim out and sent the answer a second time. On the real dev server
with the real offline agents and a real webhook receiver."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.delivery import mark_sent
from activities.delivery.config import DeliveryConfig, WebhookConfig
from policy.transitions import TicketState
from shared.stores.ledger import LedgerEntry
from shared.stores.sqlite_ledger import SqliteLedger
from tests.delivery.conftest import SECRET, delivering, run_tickets
from tests.support.tickets import make_ticket
from tests.support.webhook_receiver import Received, Reply, webhook_receiver


class LedgerDownForMarksFake(SqliteLedger):
    """The real SQLite ledger whose first ``failing`` writes marking a row sent fail, as a
    database restarting would."""

    def __init__(self, path: Path, failing: int) -> None:
        super().__init__(path)
        self.failing = failing
        self.marks = 0

    async def mark_sent(self, ticket_id: str, key: str | None = None) -> LedgerEntry:
        self.marks += 1
        if self.marks <= self.failing:
            raise OSError("could not connect to the database")
        return await super().mark_sent(ticket_id, key)


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mark_sent, "MARK_SENT_PAUSES", (0.01,) * len(mark_sent.MARK_SENT_PAUSES))


def webhook(url: str) -> DeliveryConfig:
    return DeliveryConfig(
        default_method="webhook", webhook=WebhookConfig(url=url, secret=SECRET, timeout_seconds=5)
    )


TRIES = len(mark_sent.MARK_SENT_PAUSES) + 1  # one attempt's writes


@pytest.mark.parametrize("attempts_failing", [1, 2], ids=["local", "local-and-queued"])
async def test_a_local_send_the_ledger_could_not_record_is_recorded_not_sent_again(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, attempts_failing: int
) -> None:
    ledger = LedgerDownForMarksFake(tmp_path / "outbox.sqlite3", failing=TRIES * attempts_failing)
    ticket = make_ticket(channel="chat")
    with webhook_receiver() as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url), ledger):
            [view] = await run_tickets(dev_env.client, task_queue, [ticket], TicketState.COMPLETED)
            entry = await ledger.get(ticket.ticket_id)
        requests = receiver.snapshot()

    assert [r.ticket_id for r in requests] == [ticket.ticket_id]  # sent once
    assert ledger.marks == TRIES * attempts_failing + 1
    assert entry is not None and entry.sent_at is not None
    assert view.delivery.already_delivered is False


async def test_a_queued_send_the_ledger_could_not_record_is_recorded_by_the_retry(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path
) -> None:
    # The local attempt's send fails (a 500), so the queued attempt sends; its writes fail and
    # it fails for now: its retry reads from its heartbeat details that the answer went out.
    def flaky(request: Received, earlier: int) -> Reply:
        return Reply(500, body="busy") if earlier == 0 else Reply()

    ledger = LedgerDownForMarksFake(tmp_path / "outbox.sqlite3", failing=TRIES)
    ticket = make_ticket(channel="chat")
    with webhook_receiver(flaky) as receiver:
        async with delivering(dev_env.client, task_queue, tmp_path, webhook(receiver.url), ledger):
            await run_tickets(dev_env.client, task_queue, [ticket], TicketState.COMPLETED)
        requests = receiver.snapshot()

    assert len(requests) == 2  # the refused one and the one that went out; not a third
    assert ledger.marks == TRIES + 1


async def test_the_word_that_the_answer_went_out_survives_the_attempts_later_heartbeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The background heartbeats began before anything was carried and sent empty details ever
    # after, wiping the "sent" word within seconds: the retry did not know and sent again.
    import dataclasses
    from datetime import timedelta

    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.delivery.activity import DeliveryActivities
    from activities.delivery.config import WEBHOOK
    from activities.delivery.sent_word import SENT
    from shared.view import DeliveryRequest
    from tests.delivery.attempt_fakes import HeldChannelFake

    monkeypatch.setattr(mark_sent, "MARK_SENT_PAUSES", (0.3,) * len(mark_sent.MARK_SENT_PAUSES))
    ledger = LedgerDownForMarksFake(tmp_path / "outbox.sqlite3", failing=100)
    channel = HeldChannelFake()
    channel.release.set()
    delivery = DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: channel}
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        heartbeat_timeout=timedelta(seconds=0.3),  # a beat every 0.1 s
        start_to_close_timeout=timedelta(seconds=45),
    )
    beats: list[tuple[object, ...]] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    request = DeliveryRequest(
        ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Hi."
    )
    with pytest.raises(ApplicationError) as unrecorded:
        await env.run(delivery.deliver_response, request)

    key = unrecorded.value.details[0]
    assert channel.sent == ["Hi."] and len(beats) > 5  # beats went on after the carry
    assert beats[-1] == ({SENT: key},)


class LedgerDownFake(SqliteLedger):
    """The real SQLite ledger with the database down for every call."""

    async def record(self, *args: object, **kwargs: object) -> Any:
        raise OSError("could not connect to the database")


@pytest.mark.parametrize("told_by", ["heartbeat", "local attempt"])
async def test_an_attempt_that_finds_the_ledger_down_after_a_send_still_says_it_went_out(
    tmp_path: Path, told_by: str
) -> None:
    # An earlier attempt sent the answer and could not record it; this one finds the database
    # down before any write. Its failure said only OSError, and when the retries ran out that
    # was the ticket's last word: nothing said the answer went out, and a redrive sent it again.
    import dataclasses

    from temporalio.exceptions import ApplicationError
    from temporalio.testing import ActivityEnvironment

    from activities.delivery.activity import DeliveryActivities
    from activities.delivery.config import WEBHOOK
    from activities.delivery.sent_word import SENT
    from shared import names
    from shared.view import DeliveryRequest
    from tests.delivery.attempt_fakes import HeldChannelFake

    channel = HeldChannelFake()
    delivery = DeliveryActivities(
        LedgerDownFake(tmp_path / "outbox.sqlite3"),
        DeliveryConfig(default_method=WEBHOOK),
        channels={WEBHOOK: channel},
    )
    env = ActivityEnvironment()
    request = DeliveryRequest(
        ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Hi."
    )
    if told_by == "heartbeat":
        env.info = dataclasses.replace(env.info, heartbeat_details=[{SENT: "key-1"}])
    else:
        request = request.model_copy(update={"sent_key": "key-1"})

    with pytest.raises(ApplicationError) as failed:
        await env.run(delivery.deliver_response, request)

    assert failed.value.type == names.DELIVERY_SENT_UNRECORDED_ERROR
    assert failed.value.details == ("key-1",) and not failed.value.non_retryable
    assert "went out in an earlier attempt" in failed.value.message
    assert "OSError" in failed.value.message and channel.sent == []


async def test_an_attempt_that_sent_nothing_fails_as_it_is(tmp_path: Path) -> None:
    from temporalio.testing import ActivityEnvironment

    from activities.delivery.activity import DeliveryActivities
    from activities.delivery.config import WEBHOOK
    from shared.view import DeliveryRequest
    from tests.delivery.attempt_fakes import HeldChannelFake

    delivery = DeliveryActivities(
        LedgerDownFake(tmp_path / "outbox.sqlite3"),
        DeliveryConfig(default_method=WEBHOOK),
        channels={WEBHOOK: HeldChannelFake()},
    )
    request = DeliveryRequest(
        ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Hi."
    )
    with pytest.raises(OSError, match="could not connect"):
        await ActivityEnvironment().run(delivery.deliver_response, request)


class LedgerPartitionedFake(SqliteLedger):
    """The real SQLite ledger whose writes marking a row sent never answer, and whose
    cancellation takes long, as psycopg's does on a cut-off connection (a cancel request, then
    a wait for the connection to settle: up to 5 s each)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.cleanups_done = 0
        self.healed = False  # set at the test's end: the abandoned writes end at once
        self.writes_started = 0

    async def mark_sent(self, ticket_id: str, key: str | None = None) -> LedgerEntry:
        import asyncio

        self.writes_started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if not self.healed:
                await asyncio.sleep(30)
                self.cleanups_done += 1
            raise
        raise AssertionError("unreachable")


async def _local_send_with_a_hanging_ledger(
    tmp_path: Path, attempt: timedelta | None = None
) -> tuple[LedgerPartitionedFake, Any, ApplicationError]:
    """A local first attempt whose send goes out and whose ledger writes never answer (within
    ``attempt``, the attempt's start-to-close timeout: the test environment's 1 s without):
    the ledger, the channel and the attempt's error."""
    import asyncio
    import dataclasses

    from temporalio.testing import ActivityEnvironment

    from activities.delivery.activity import DeliveryActivities
    from activities.delivery.config import WEBHOOK
    from shared.view import DeliveryRequest
    from tests.delivery.attempt_fakes import HeldChannelFake

    ledger = LedgerPartitionedFake(tmp_path / "outbox.sqlite3")
    channel = HeldChannelFake()
    channel.release.set()
    delivery = DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: channel}
    )
    request = DeliveryRequest(
        ticket_id="T-1", channel="chat", customer_id="C-1", revision=1, text="Hi."
    )
    environment = ActivityEnvironment()
    if attempt is not None:
        environment.info = dataclasses.replace(environment.info, start_to_close_timeout=attempt)
    with pytest.raises(ApplicationError) as failed:
        await asyncio.wait_for(environment.run(delivery.deliver_response_now, request), timeout=20)
    ledger.healed = True
    return ledger, channel, failed.value


async def test_a_local_send_whose_ledger_write_hangs_says_it_went_out_within_the_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each "5 s" try took 15 s on a partitioned database (the cancellation of the query waited
    # for the server), the attempt's time ran out before it said the answer went out, and the
    # queued attempt sent it again once the claim had run out.
    from shared import names

    monkeypatch.setattr(mark_sent, "MARK_SENT_TRY_SECONDS", 0.2)
    ledger, channel, unrecorded = await _local_send_with_a_hanging_ledger(tmp_path)

    assert unrecorded.type == names.DELIVERY_SENT_UNRECORDED_ERROR
    assert channel.sent == ["Hi."] and ledger.cleanups_done == 0  # not waited for


async def test_a_ledger_write_that_hangs_is_waited_for_again_not_started_again_per_try(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each try started another write while the last one still waited on the row's lock: each
    # held a pooled connection until the statement timeout (120 s), and a few deliveries doing
    # that emptied the pool for every other ledger and payload read.
    monkeypatch.setattr(mark_sent, "MARK_SENT_TRY_SECONDS", 0.2)
    monkeypatch.setattr(mark_sent, "MARK_SENT_PAUSES", (0.01,) * len(mark_sent.MARK_SENT_PAUSES))
    # An attempt long enough for every try.
    ledger, _, _ = await _local_send_with_a_hanging_ledger(tmp_path, timedelta(seconds=10))

    assert ledger.writes_started == 1
