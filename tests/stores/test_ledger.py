"""The delivery ledger holds one answer per ticket, on SQLite and on PostgreSQL alike: the first
decision stands, however often (and from however many workers) delivery is retried."""

import asyncio
import dataclasses
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from shared.delivery import idempotency_key, text_sha256
from shared.stores.ledger import (
    UNCERTAIN_PREFIX,
    DeliveryLedger,
    NewDelivery,
    may_have_gone_out,
    uncertain,
)
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SCHEMA_VERSION, SqliteLedger
from tests.support.postgres import PostgresServer


@pytest.fixture
async def ledger(
    backend: str, tmp_path: Path, postgres: PostgresServer
) -> AsyncIterator[DeliveryLedger]:
    if backend == "sqlite":
        yield SqliteLedger(tmp_path / "outbox.sqlite3")
        return
    database = PostgresDatabase(postgres.create_database("ledger"), pool_size=4)
    yield PostgresLedger(database)
    await database.close()


def delivery(
    ticket_id: str = "T-1", revision: int = 1, text: str = "Hello.", chain: str | None = None
) -> NewDelivery:
    digest = text_sha256(text)
    return NewDelivery(
        ticket_id=ticket_id,
        channel="email",
        customer_id="C-1",
        revision=revision,
        body=text,
        text_sha256=digest,
        idempotency_key=idempotency_key(ticket_id, digest, chain),
        sent_via="webhook",
        chain=chain,
    )


async def test_the_first_record_writes_the_decision_unsent(ledger: DeliveryLedger) -> None:
    entry, created = await ledger.record(delivery(revision=2, text="Here is your answer."))
    assert created is True
    assert (entry.ticket_id, entry.revision, entry.body) == ("T-1", 2, "Here is your answer.")
    assert entry.text_sha256 == text_sha256("Here is your answer.")
    assert entry.idempotency_key.startswith("T-1.")
    assert entry.sent_at is None and entry.attempts == 0
    assert entry.recorded_at.tzinfo is not None


async def test_a_second_record_with_another_text_keeps_the_first_decision(
    ledger: DeliveryLedger,
) -> None:
    first, _ = await ledger.record(delivery(revision=1, text="The first answer."))
    second, created = await ledger.record(delivery(revision=1, text="A different answer."))
    assert created is False
    assert second.body == "The first answer." and second.text_sha256 == first.text_sha256
    assert second.recorded_at == first.recorded_at
    assert await ledger.count("T-1") == 1


async def test_marking_sent_keeps_the_first_time_and_clears_the_last_error(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery())
    await ledger.note_failure("T-1", "the webhook answered 503")
    failed = await ledger.get("T-1")
    assert failed is not None and failed.last_error == "the webhook answered 503"
    assert failed.sent_at is None and failed.attempts == 1
    sent = await ledger.mark_sent("T-1")
    again = await ledger.mark_sent("T-1")
    assert sent.sent_at is not None and again.sent_at == sent.sent_at
    assert again.last_error is None and again.attempts == 3


async def test_concurrent_records_of_one_ticket_decide_exactly_once(ledger: DeliveryLedger) -> None:
    results = await asyncio.gather(
        *(ledger.record(delivery(revision=n, text=f"Answer {n}.")) for n in range(1, 21))
    )
    created = [entry for entry, new in results if new]
    assert len(created) == 1
    assert {entry.body for entry, _ in results} == {created[0].body}
    assert await ledger.count("T-1") == 1 and await ledger.count() == 1


async def test_counts_and_entries_cover_every_ticket(ledger: DeliveryLedger) -> None:
    for ticket in ("T-1", "T-2", "T-3"):
        await ledger.record(delivery(ticket_id=ticket))
    assert await ledger.count() == 3 and await ledger.count("T-unknown") == 0
    assert [e.ticket_id for e in await ledger.entries()] == ["T-1", "T-2", "T-3"]
    assert await ledger.get("T-unknown") is None


async def test_the_postgres_ledger_names_host_and_database_never_the_password(
    database: PostgresDatabase, postgres: PostgresServer
) -> None:
    ledger = PostgresLedger(database)
    location = ledger.location("T-1")
    assert location == (
        f"ledger:postgresql://127.0.0.1:{postgres.port}/{database.target.database}#T-1"
    )
    assert postgres.password not in location + ledger.describe()


async def test_an_outbox_from_before_the_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as conn:  # the original outbox's table and one delivered row
        conn.execute(
            "CREATE TABLE deliveries (ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, "
            "customer_id TEXT, revision INTEGER NOT NULL, body TEXT NOT NULL, "
            "delivered_at TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO deliveries VALUES ('OLD-1', 'email', NULL, 2, 'Old answer.', "
            "'2025-01-02T03:04:05+00:00')"
        )
    conn.close()
    ledger = SqliteLedger(path)
    old = await ledger.get("OLD-1")
    assert old is not None
    assert old.text_sha256 == text_sha256("Old answer.") and old.sent_at is not None
    again, created = await ledger.record(delivery(ticket_id="OLD-1", text="New answer."))
    assert created is False and again.body == "Old answer."
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


async def test_a_sqlite_ledger_in_a_folder_not_yet_there_creates_it(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "not" / "there" / "outbox.sqlite3")
    assert await ledger.count() == 0
    assert (tmp_path / "not" / "there" / "outbox.sqlite3").exists()


def test_two_processes_migrating_one_sqlite_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"

    async def both() -> None:
        await asyncio.gather(*(SqliteLedger(path).count() for _ in range(8)))

    asyncio.run(both())
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(deliveries)")]
    conn.close()
    assert columns.count("text_sha256") == 1 and "sent_at" in columns


async def test_erasure_deletes_every_row_of_the_customer_and_no_one_elses(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record(delivery("T-1"))  # customer C-1
    await ledger.record(delivery("T-2"))  # customer C-1, its workflow already gone
    # C-1's ticket T-3 was answered; another namespace's T-3 (another customer) has the row now.
    other = delivery("T-3")
    await ledger.record(NewDelivery(**{**other.__dict__, "customer_id": "C-2"}))
    spaced = delivery("T-4")  # an id sent with a space (erase strips what it is given)
    await ledger.record(NewDelivery(**{**spaced.__dict__, "customer_id": "\tC-1 \r\n"}))
    assert await ledger.delete("C-1") == ["T-1", "T-2", "T-4"]
    assert await ledger.get("T-1") is None and await ledger.get("T-2") is None
    assert await ledger.get("T-3") is not None
    assert await ledger.delete("C-1") == []


async def test_a_sqlite_ledger_keeps_one_connection_and_replaces_a_broken_one(
    tmp_path: Path,
) -> None:
    ledger = SqliteLedger(tmp_path / "outbox.sqlite3")
    await ledger.record(delivery(ticket_id="T-1"))
    first = ledger._conn
    await ledger.mark_sent("T-1")
    assert ledger._conn is first  # the same connection served both calls

    assert first is not None
    # Broken under the ledger's feet (on its thread: SQLite objects stay on theirs).
    await asyncio.get_running_loop().run_in_executor(ledger._thread, first.close)
    with pytest.raises(sqlite3.ProgrammingError):
        await ledger.count()

    assert await ledger.count() == 1  # a new connection, the row still there
    assert ledger._conn is not first
    await ledger.close()
    assert ledger._conn is None
    assert await ledger.count("T-1") == 1  # usable again after close: it reconnects
    await ledger.close()


async def test_a_sqlite_ledger_keeps_its_connection_when_another_process_held_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.stores.sqlite_ledger.LOCK_WAIT_SECONDS", 0.2)
    path = tmp_path / "outbox.sqlite3"
    ledger = SqliteLedger(path)
    assert await ledger.count() == 0
    connection = ledger._conn
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing, longer than the busy timeout

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await ledger.record(delivery(ticket_id="T-1"))
    assert ledger._conn is connection  # kept: nothing was wrong with it

    other.execute("ROLLBACK")
    other.close()
    _, created = await ledger.record(delivery(ticket_id="T-1"))
    assert created
    await ledger.close()


async def test_closing_a_sqlite_ledger_stops_its_thread(tmp_path: Path) -> None:
    def ledger_threads() -> int:  # this test's ledgers only (others may be collected meanwhile)
        return sum(t.name.startswith("sqlite-ledger-closing-") for t in threading.enumerate())

    ledgers = [SqliteLedger(tmp_path / f"closing-{n}.sqlite3") for n in range(5)]
    for ledger in ledgers:
        await ledger.count()
    assert ledger_threads() == 5

    for ledger in ledgers:
        await ledger.close()

    assert ledger_threads() == 0


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
