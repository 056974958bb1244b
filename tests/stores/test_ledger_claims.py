"""The delivery ledger's claims (one attempt at a time sends an answer) and a later run's answer
taking over a ticket's row, on SQLite and on PostgreSQL alike."""

import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from shared.stores.ledger import (
    REFUSED_PREFIX,
    UNCERTAIN_PREFIX,
    DeliveryLedger,
    may_have_gone_out,
    send_begun,
    uncertain,
)
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from tests.stores.conftest import delivery
from tests.support.postgres import PostgresServer


async def test_one_attempt_at_a_time_holds_the_claim_until_it_releases_or_it_runs_out(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery())

    assert await ledger.claim("T-1", "attempt-a", 60) is True
    assert await ledger.claim("T-1", "attempt-b", 60) is False  # a holds it
    assert await ledger.claim("T-1", "attempt-a", 60) is True  # a again (a retry of its own)
    await ledger.release("T-1", "attempt-b")  # not b's to give back
    assert await ledger.claim("T-1", "attempt-b", 60) is False
    await ledger.release("T-1", "attempt-a")
    assert await ledger.claim("T-1", "attempt-b", 0) is True  # run out at once
    assert await ledger.claim("T-1", "attempt-c", 60) is True  # b's claim ran out


async def test_a_claim_given_back_unsent_takes_back_the_send_it_counted(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    await ledger.release("T-1", "attempt-b", unsent=True)  # not b's to give back
    counted = await ledger.get("T-1")
    assert await ledger.claim("T-1", "attempt-b", 60) is False  # a still holds it
    await ledger.release("T-1", "attempt-a", unsent=True)
    given_back = await ledger.get("T-1")
    assert await ledger.claim("T-1", "attempt-c", 60) is True  # given back
    await ledger.release("T-1", "attempt-c")  # its send failed: it stays counted
    failed = await ledger.get("T-1")

    assert counted is not None and counted.sends == 1
    assert given_back is not None and given_back.sends == 0
    assert failed is not None and failed.sends == 1


async def test_a_sent_answer_cannot_be_claimed_and_marking_it_sent_ends_the_claim(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    await ledger.mark_sent("T-1")

    assert await ledger.claim("T-1", "attempt-a", 60) is False
    assert await ledger.claim("T-1", "attempt-b", 60) is False
    assert await ledger.claim("T-unknown", "attempt-a", 60) is False


async def test_an_old_sqlite_ledger_is_migrated_to_hold_claims(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE deliveries (ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, "
        "customer_id TEXT, revision INTEGER NOT NULL, body TEXT NOT NULL, "
        "delivered_at TEXT NOT NULL)"
    )
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    ledger = SqliteLedger(path)
    try:
        await ledger.record(delivery("T-9"))
        assert await ledger.claim("T-9", "attempt-a", 60) is True
        assert await ledger.claim("T-9", "attempt-b", 60) is False
    finally:
        await ledger.close()


async def test_a_later_ticket_with_the_same_id_replaces_a_sent_answer_with_its_own(
    ledger: DeliveryLedger,
) -> None:
    # The first ticket's workflow was purged after retention; the same customer sent the same
    # e-mail again (same derived id): that ticket needs its own answer, not "already sent".
    first, _ = await ledger.record(delivery(text="Same text.", chain="run-1"))
    await ledger.mark_sent("T-1")

    second, created = await ledger.record(delivery(text="Same text.", chain="run-2"))
    again, created_again = await ledger.record(delivery(text="Other text.", chain="run-2"))

    assert created is True and second.chain == "run-2" and second.sent_at is None
    assert second.idempotency_key != first.idempotency_key  # a receiver must not drop it
    assert (created_again, again.body) == (False, "Same text.")  # its own decision stands
    assert await ledger.count("T-1") == 1


async def test_another_tickets_answer_being_sent_or_a_row_from_before_chains_is_not_replaced(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery("T-1", text="First.", chain="run-1"))
    assert await ledger.claim("T-1", "attempt-of-run-1", 60)  # run-1 is sending now
    waiting, created = await ledger.record(delivery("T-1", text="Second.", chain="run-2"))
    await ledger.record(delivery("T-2", text="Old.", chain=None))
    await ledger.mark_sent("T-2")
    legacy, created_legacy = await ledger.record(delivery("T-2", text="New.", chain="run-9"))

    assert (created, waiting.chain, waiting.body) == (False, "run-1", "First.")
    assert (created_legacy, legacy.body, legacy.chain) == (False, "Old.", None)


async def test_another_tickets_answer_that_never_went_out_is_replaced_when_nobody_sends_it(
    ledger: DeliveryLedger,
) -> None:
    # run-1 ended DELIVERY_FAILED (its channel refused it); the ticket was submitted again.
    await ledger.record(delivery("T-1", text="First.", chain="run-1"))
    assert await ledger.claim("T-1", "attempt-of-run-1", 60)
    await ledger.note_failure("T-1", "550 no such user")
    await ledger.release("T-1", "attempt-of-run-1")

    again, created = await ledger.record(delivery("T-1", text="Second.", chain="run-2"))

    assert (created, again.chain, again.body, again.sent_at) == (True, "run-2", "Second.", None)
    assert again.attempts == 0 and again.last_error is None


async def test_an_attempt_whose_row_another_ticket_took_over_neither_claims_nor_marks_it(
    ledger: DeliveryLedger,
) -> None:
    # run-1 read its decision; run-2 (the same id, another namespace) took the unclaimed row
    # over before run-1 claimed it: run-1 must not send under, or mark sent, run-2's decision.
    mine, _ = await ledger.record(delivery("T-1", text="Answer one.", chain="run-1"))
    theirs, taken = await ledger.record(delivery("T-1", text="Answer two.", chain="run-2"))

    assert taken is True
    assert await ledger.claim("T-1", "attempt-of-run-1", 60, mine.idempotency_key) is False
    with pytest.raises(LookupError):
        await ledger.mark_sent("T-1", mine.idempotency_key)
    assert await ledger.claim("T-1", "attempt-of-run-2", 60, theirs.idempotency_key) is True
    sent = await ledger.mark_sent("T-1", theirs.idempotency_key)
    assert (sent.body, sent.chain) == ("Answer two.", "run-2") and sent.sent_at is not None


async def test_times_read_back_from_postgresql_are_utc_whatever_the_session_time_zone(
    postgres: PostgresServer,
) -> None:
    # psycopg returns timestamptz in the session's zone (the server's setting, or PGTZ): status
    # printed New York's wall-clock time labelled "UTC", and the webhook's decided_at changed
    # with the worker's environment.
    url = postgres.create_database("ledger_tz")
    database = PostgresDatabase(f"{url}?options=-c%20TimeZone%3DAmerica/New_York", pool_size=2)
    ledger = PostgresLedger(database)
    try:
        entry, _ = await ledger.record(delivery())
        sent = await ledger.mark_sent(entry.ticket_id, entry.idempotency_key)
        listed = await ledger.entries()
    finally:
        await database.close()
    for when in (entry.recorded_at, sent.recorded_at, sent.sent_at, *(e.sent_at for e in listed)):
        assert when is not None and when.utcoffset() == timedelta(0), when


async def test_the_answer_the_replaced_run_sent_is_kept_and_an_unsent_one_replaced(
    ledger: DeliveryLedger,
) -> None:
    # run-1 sent its answer, then ended without completing (cancelled just after the send,
    # terminated while delivering); the ticket was started again to replace it (run-2): a
    # second answer under a new key would reach the customer as a second one.
    await ledger.record(delivery("T-1", text="First.", chain="run-1"))
    await ledger.mark_sent("T-1")
    await ledger.record(delivery("T-2", text="Old.", chain="run-1"))  # never went out

    # run-3 replaces run-2, which had replaced run-1 (and failed before its delivery).
    kept, replaced = await ledger.record(
        dataclasses.replace(
            delivery("T-1", text="Third.", chain="run-3"), replaces=("run-1", "run-2")
        )
    )
    fresh, created = await ledger.record(
        dataclasses.replace(delivery("T-2", text="New.", chain="run-2"), replaces=("run-1",))
    )

    assert (replaced, kept.chain, kept.body) == (False, "run-1", "First.")
    assert kept.sent_at is not None
    assert (created, fresh.chain, fresh.body, fresh.sent_at) == (True, "run-2", "New.", None)


async def test_an_answer_handed_over_without_learning_its_fate_is_neither_claimed_nor_replaced(
    ledger: DeliveryLedger,
) -> None:
    # A relay went silent after it was handed the message: it may have it. Another attempt
    # claiming the row, or a restarted run replacing it, sent it (or a new one) again.
    await ledger.record(delivery("T-1", text="First.", chain="run-1"))
    assert await ledger.claim("T-1", "attempt-a", 60)
    await ledger.note_failure("T-1", UNCERTAIN_PREFIX + "the relay did not say")
    await ledger.release("T-1", "attempt-a")

    claimed = await ledger.claim("T-1", "attempt-b", 60)
    kept, replaced = await ledger.record(
        dataclasses.replace(delivery("T-1", text="Second.", chain="run-2"), replaces=("run-1",))
    )

    assert claimed is False
    assert (replaced, kept.chain, kept.body, kept.sent_at) == (False, "run-1", "First.", None)
    assert uncertain(kept) and may_have_gone_out(kept)


@pytest.mark.parametrize(
    "how", ["timed-out", "worker-died", "refused-then-timed-out", "noted-before-counters"]
)
async def test_a_replaced_runs_answer_whose_send_began_and_was_not_refused_is_kept(
    ledger: DeliveryLedger, how: str
) -> None:
    # run-1's send began and nothing said it failed for good: a webhook that answered after
    # the timeout (the receiver took it), a worker killed mid-send (its claim never given back
    # and run out). Replaced, its row went out again as run-2's text under run-2's new key:
    # two different answers, the receiver unable to tell them apart. Kept, run-2's delivery
    # sends run-1's answer again under run-1's key, as run-1's next attempt would have.
    await ledger.record(delivery("T-1", text="First.", chain="run-1"))
    if how == "refused-then-timed-out":  # the first channel refused; the next try timed out
        assert await ledger.claim("T-1", "attempt-0", 60)
        await ledger.note_failure("T-1", REFUSED_PREFIX + "550 no such mailbox")
        await ledger.release("T-1", "attempt-0")
    if how == "noted-before-counters":
        # A row of a ledger from before claims were counted: its failure noted, sends 0.
        await ledger.note_failure("T-1", "the webhook did not answer within 10 s")
    else:
        assert await ledger.claim("T-1", "attempt-a", 0 if how == "worker-died" else 60)
    if how not in ("worker-died", "noted-before-counters"):
        await ledger.note_failure("T-1", "the webhook did not answer within 10 s")
        await ledger.release("T-1", "attempt-a")

    kept, replaced = await ledger.record(
        dataclasses.replace(delivery("T-1", text="Second.", chain="run-2"), replaces=("run-1",))
    )

    assert (replaced, kept.chain, kept.body, kept.sent_at) == (False, "run-1", "First.", None)
    assert send_begun(kept) and not uncertain(kept)
    assert await ledger.claim("T-1", "run-2-attempt", 60, kept.idempotency_key)


async def test_a_replaced_runs_answer_refused_for_good_every_time_is_replaced(
    ledger: DeliveryLedger,
) -> None:
    # Nothing went out: the new run's answer takes the row.
    await ledger.record(delivery("T-1", text="First.", chain="run-1"))
    assert await ledger.claim("T-1", "attempt-a", 60)
    await ledger.note_failure("T-1", REFUSED_PREFIX + "550 no such mailbox")
    await ledger.release("T-1", "attempt-a")

    fresh, replaced = await ledger.record(
        dataclasses.replace(delivery("T-1", text="Second.", chain="run-2"), replaces=("run-1",))
    )

    assert (replaced, fresh.chain, fresh.body, fresh.sends) == (True, "run-2", "Second.", 0)


async def test_erasing_a_tickets_answer_takes_only_a_row_of_its_runs(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery("T-1", text="Mine.", chain="run-1"))
    await ledger.record(delivery("T-2", text="A later ticket's.", chain="run-9"))
    await ledger.record(delivery("T-3", text="From before chains."))  # customer C-1
    await ledger.record(delivery("T-5", text="Someone else's, from before chains."))

    assert await ledger.delete_answer("T-1", ["run-0", "run-1"], None) is True
    assert await ledger.delete_answer("T-2", ["run-1"], "C-1") is False  # another ticket's
    assert await ledger.delete_answer("T-3", ["run-3"], "C-1") is True  # no chain, same customer
    assert await ledger.delete_answer("T-5", ["run-5"], None) is False  # no chain, C-1 not None
    assert await ledger.delete_answer("T-4", [], None) is False
    assert [await ledger.count(t) for t in ("T-1", "T-2", "T-3", "T-5")] == [0, 1, 0, 1]
