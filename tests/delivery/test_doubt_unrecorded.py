"""Verdicts on a delivery that its ledger failed to take (the database down at that moment).

A delivery that could not tell whether its answer arrived (an SMTP relay silent after it took
the message): the doubt could not be written on the row, which stayed plain unsent, and
`redrive` (which read the row only) planned to send the answer again, even with `--arrived`.
The refusal now carries the doubt in its details, in the history, and redrive reads it there.
A refusal for good whose note was lost kept the row from ever going by another channel: the
note is now tried again while the attempt has time, and counted once per send."""

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import activity as delivery_activity
from activities.delivery import mark_sent
from activities.delivery.activity import DeliveryActivities
from activities.delivery.config import WEBHOOK, DeliveryConfig
from activities.delivery.errors import DeliveryRejected, DeliveryUncertain
from shared import names
from shared.stores.ledger import LedgerEntry, refused_every_time, uncertain
from shared.stores.sqlite_ledger import SqliteLedger
from shared.view import DeliveryRequest
from starter import redrive_plans as redrive
from starter.delivery_history import DeliveryHistory


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mark_sent, "MARK_SENT_PAUSES", (0.01,) * len(mark_sent.MARK_SENT_PAUSES))


class SilentRelayFake:
    """A channel whose destination took the message and then said nothing."""

    def destination(self, request: DeliveryRequest) -> str:
        return "smtp://relay.example"

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        raise DeliveryUncertain("the relay went silent after it was handed the message")

    async def aclose(self) -> None:
        pass


class NotesDownFake(SqliteLedger):
    """The real SQLite ledger whose failure notes cannot be written (the database down)."""

    async def note_failure(self, ticket_id: str, reason: str, key: str | None = None) -> Any:
        raise OSError("could not connect to the database")


REQUEST = DeliveryRequest(
    ticket_id="T-1",
    channel="email",
    customer_id="C-1",
    revision=1,
    text="Your refund is on its way.",
)


async def doubted_attempt(tmp_path: Path) -> tuple[NotesDownFake, ApplicationError]:
    ledger = NotesDownFake(tmp_path / "outbox.sqlite3")
    delivery = DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: SilentRelayFake()}
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=45))
    with pytest.raises(ApplicationError) as refused:
        await env.run(delivery.deliver_response, REQUEST)
    return ledger, refused.value


async def test_the_refusal_carries_the_doubt_when_the_ledger_cannot(tmp_path: Path) -> None:
    ledger, err = await doubted_attempt(tmp_path)
    row = await ledger.get("T-1")

    assert (err.type, err.non_retryable) == (names.DELIVERY_REJECTED_ERROR, True)
    assert row is not None and row.sent_at is None and not uncertain(row)  # the note was lost
    assert list(err.details) == [names.DELIVERY_MAY_HAVE_ARRIVED, row.idempotency_key]


@pytest.mark.parametrize(
    ("arrived", "action"),
    [(None, "skip"), (True, "record-sent"), (False, "resend")],
    ids=["unchecked", "found", "not-found"],
)
async def test_redrive_reads_the_doubt_from_the_history_and_sends_only_once_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arrived: bool | None, action: str
) -> None:
    ledger, err = await doubted_attempt(tmp_path)
    row = await ledger.get("T-1")
    assert row is not None

    async def history(client: Any, workflow_id: str, run_id: str) -> DeliveryHistory:
        return DeliveryHistory(reset_event_id=7, doubted_key=err.details[1])

    monkeypatch.setattr(redrive, "read_delivery", history)
    item = redrive.RedriveItem(
        ticket_id="T-1", workflow_id="ticket-T-1", run_id="run-1", action="skip", why=""
    )
    checked = {} if arrived is None else {"T-1": arrived}

    planned = await redrive.plan_delivery_failed(None, ledger, item, checked)  # type: ignore[arg-type]

    assert planned.action == action  # before: "redeliver", the answer sent a second time
    if arrived is None:
        assert "its answer may have been delivered (its delivery said so" in planned.why


class RefusingChannelFake(SilentRelayFake):
    """A destination that refuses the answer for good (550)."""

    async def send(self, entry: LedgerEntry, request: DeliveryRequest) -> None:
        raise DeliveryRejected("550 no such mailbox")


class NotesDownOnceFake(SqliteLedger):
    """The real SQLite ledger whose first failure note fails (the database restarting)."""

    notes = 0

    async def note_failure(self, ticket_id: str, reason: str, key: str | None = None) -> Any:
        self.notes += 1
        if self.notes == 1:
            raise OSError("could not connect to the database")
        return await super().note_failure(ticket_id, reason, key)


async def test_a_refusal_whose_note_failed_once_is_recorded_and_the_row_may_move(
    tmp_path: Path,
) -> None:
    # The note was tried once: lost, the row kept sends=1, refusals=0 for good, and every
    # redrive sent through the channel that refuses, however the routing was fixed.
    ledger = NotesDownOnceFake(tmp_path / "outbox.sqlite3")
    delivery = DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: RefusingChannelFake()}
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, start_to_close_timeout=timedelta(seconds=45))
    with pytest.raises(ApplicationError):
        await env.run(delivery.deliver_response, REQUEST)

    row = await ledger.get("T-1")
    assert ledger.notes == 2
    assert row is not None and (row.sends, row.refusals) == (1, 1)
    assert refused_every_time(row)


class StalledLedgerFake(SqliteLedger):
    """The real SQLite ledger whose failure notes and claim releases never answer (a database
    that stalled: a pool waiting for a server that restarts), until the test lets them go."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.stalled = asyncio.Event()

    async def note_failure(self, ticket_id: str, reason: str, key: str | None = None) -> Any:
        await self.stalled.wait()

    async def release(self, ticket_id: str, holder: str, *, unsent: bool = False) -> None:
        await self.stalled.wait()


# The stalled test's timings, scaled down from production's (a try of 5 s, a margin of 3 s, a
# release margin of 0.5 s) with one try longer than the margin as there. What the activity keeps
# before its limit (the release's margin) is the slack between its answer and that limit: 1.5 s,
# which no loaded machine's late timer or slow raise eats (0.25 s was the slack before).
STALL_TRY = 2.0
STALL_MARGIN = 1.75
STALL_RELEASE_MARGIN = 1.5
# Two tries of the note fit before its margin: the stalled write is waited for again.
STALL_ATTEMPT = STALL_MARGIN + 2 * STALL_TRY - 0.25


async def test_the_doubt_reaches_the_server_within_the_attempt_when_the_ledger_stalls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each note and the release waited as long as the database did: the attempt ran past its
    limit, the server recorded a timeout instead of the doubt, and the retry (finding a plain
    unsent row) sent the answer again. Then the release's own try (5 s) after a note that had
    used the attempt up to its margin (3 s) still ended 2 s past the limit (here: a 2 s try after
    notes that end 1.75 s before a 5.5 s limit ends 0.25 s past it; a slower machine only makes
    that later). The activity now answers 1.5 s before its limit."""
    monkeypatch.setattr(mark_sent, "MARK_SENT_TRY_SECONDS", STALL_TRY)
    monkeypatch.setattr(mark_sent, "MARK_SENT_MARGIN_SECONDS", STALL_MARGIN)
    monkeypatch.setattr(delivery_activity, "MARK_SENT_TRY_SECONDS", STALL_TRY)
    monkeypatch.setattr(delivery_activity, "RELEASE_MARGIN_SECONDS", STALL_RELEASE_MARGIN)
    ledger = StalledLedgerFake(tmp_path / "outbox.sqlite3")
    delivery = DeliveryActivities(
        ledger, DeliveryConfig(default_method=WEBHOOK), channels={WEBHOOK: SilentRelayFake()}
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, start_to_close_timeout=timedelta(seconds=STALL_ATTEMPT)
    )
    # The limit counts from before the attempt starts (as the server's does): never later than
    # the activity's own.
    attempt = asyncio.ensure_future(env.run(delivery.deliver_response, REQUEST))
    # Past the attempt's limit the server would have timed it out: its verdict lost.
    answered, _ = await asyncio.wait({attempt}, timeout=STALL_ATTEMPT)
    ledger.stalled.set()
    with pytest.raises(ApplicationError) as refused:
        await attempt
    assert answered, "the attempt had not answered within its limit"

    assert (refused.value.type, refused.value.non_retryable) == (
        names.DELIVERY_REJECTED_ERROR,
        True,
    )
    assert refused.value.details[0] == names.DELIVERY_MAY_HAVE_ARRIVED
