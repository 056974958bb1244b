"""The delivery ledger holds one answer per ticket, on SQLite and on PostgreSQL alike: the first
decision stands, however often (and from however many workers) delivery is retried. (Claims and
a later run's answer taking a row over: test_ledger_claims.py.)"""

import asyncio
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from shared.delivery import text_sha256
from shared.stores.config import StoreConfig
from shared.stores.errors import StoreUnavailable
from shared.stores.factory import build_stores
from shared.stores.ledger import (
    REFUSED_PREFIX,
    DeliveryLedger,
    NewDelivery,
)
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from shared.stores.sqlite_schema import SCHEMA_VERSION
from tests.stores.conftest import delivery
from tests.support.postgres import PostgresServer


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


async def test_a_dry_run_reading_an_old_sqlite_ledger_changes_nothing_and_says_why(
    tmp_path: Path,
) -> None:
    # starter redrive's dry run (build_stores(migrates=False)) applied the ledger's migrations
    # to the workers' file: a newer checkout's dry run upgraded what older workers still write.
    data = tmp_path / "data"
    path = StoreConfig.from_env({"TICKETS_DATA_DIR": str(data)}).ledger_path
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:  # the original outbox, user_version 0
        conn.execute(
            "CREATE TABLE deliveries (ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, "
            "customer_id TEXT, revision INTEGER NOT NULL, body TEXT NOT NULL, "
            "delivered_at TEXT NOT NULL)"
        )
    conn.close()
    path.chmod(0o644)  # as a version before owner-only ledgers made it

    async with build_stores(
        StoreConfig.from_env({"TICKETS_DATA_DIR": str(data)}), migrates=False
    ) as stores:
        with pytest.raises(StoreUnavailable) as raised:
            await stores.ledger.get("OLD-1")
    assert str(raised.value) == (
        f"the delivery ledger {path} is at version 0 and this code needs {SCHEMA_VERSION}: a "
        "worker of this version brings it up to date when it starts (docs/stores.md)"
    )
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(deliveries)")]
        # Nor switched to WAL, nor its mode changed: a dry run only reads.
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()
    assert "text_sha256" not in columns
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    # No ledger at all: none is made. A current one is read.
    missing = SqliteLedger(tmp_path / "none" / "outbox.sqlite3", migrates=False)
    with pytest.raises(StoreUnavailable, match="no delivery ledger at"):
        await missing.count()
    await missing.close()
    assert not (tmp_path / "none").exists()
    current = SqliteLedger(tmp_path / "current.sqlite3")
    await current.record(delivery(ticket_id="NEW-1"))
    await current.close()
    reading = SqliteLedger(tmp_path / "current.sqlite3", migrates=False)
    assert await reading.count() == 1
    await reading.close()


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
    # A spreadsheet's no-break space, an ideographic space: Python's strip() takes them off the
    # id erase is given and the ticket's, so the ledger's trim must too.
    exported = delivery("T-5")
    await ledger.record(NewDelivery(**{**exported.__dict__, "customer_id": "\u3000C-1\u00a0"}))
    inner = delivery("T-6")  # a space inside the id is part of it
    await ledger.record(NewDelivery(**{**inner.__dict__, "customer_id": "C-\u00a01"}))
    assert await ledger.customer_rows("C-1") == ["T-1", "T-2", "T-4", "T-5"]
    assert await ledger.delete("C-1") == ["T-1", "T-2", "T-4", "T-5"]
    assert await ledger.get("T-1") is None and await ledger.get("T-2") is None
    assert await ledger.get("T-3") is not None
    assert await ledger.delete("C-1") == []


async def test_an_address_s_rows_are_found_and_erased_in_any_case(ledger: DeliveryLedger) -> None:
    # An e-mailed ticket's customer id is its sender's address, as sent; `erase --email` finds
    # the rows by it (their workflows may be gone by retention: they were left behind).
    mailed = delivery("T-1")
    await ledger.record(
        NewDelivery(**{**mailed.__dict__, "customer_id": " Jane.Roe@Example.com\u00a0"})
    )
    other = delivery("T-2")
    await ledger.record(NewDelivery(**{**other.__dict__, "customer_id": "jane@example.com"}))
    assert await ledger.customer_rows("jane.roe@example.com") == []  # exact, as for an id
    assert await ledger.customer_rows("jane.roe@example.com", any_case=True) == ["T-1"]
    assert await ledger.delete("jane.roe@example.com", any_case=True) == ["T-1"]
    assert await ledger.get("T-1") is None and await ledger.get("T-2") is not None


async def test_a_web_form_ticket_s_row_is_found_by_the_address_it_answers(
    ledger: DeliveryLedger,
) -> None:
    # A web form's ticket has an address and no customer id (an e-mailed one from an address
    # longer than an id, a digest of it): once retention removed its workflow, `erase --email`
    # found nothing of it, and its answer stayed in the ledger for good.
    def to(ticket_id: str, customer_id: str | None, email: str | None) -> NewDelivery:
        made = delivery(ticket_id)
        return NewDelivery(**{**made.__dict__, "customer_id": customer_id, "customer_email": email})

    await ledger.record(to("T-1", None, "Ana.Lima@Example.com"))
    await ledger.record(to("T-2", "email-" + "0" * 40, "ana.lima@example.com "))
    await ledger.record(to("T-3", None, "ana@example.com"))
    await ledger.record(to("T-4", "ana.lima@example.com", None))  # as before: by its id
    assert await ledger.customer_rows("ana.lima@example.com") == ["T-4"]  # an id: exact, ids only
    assert await ledger.customer_rows("ana.lima@example.com", any_case=True) == [
        "T-1",
        "T-2",
        "T-4",
    ]
    assert await ledger.delete("ana.lima@example.com", any_case=True) == ["T-1", "T-2", "T-4"]
    assert await ledger.get("T-3") is not None and await ledger.count() == 1
    # Beyond ASCII: "ß" casefolds to "ss", and SQLite's lower() leaves "É" as it is.
    await ledger.record(to("T-5", None, "Straße@Example.de"))
    await ledger.record(to("T-6", None, "ÉLODIE@example.fr"))
    assert await ledger.delete("STRASSE@example.de", any_case=True) == ["T-5"]
    assert await ledger.delete("élodie@EXAMPLE.fr", any_case=True) == ["T-6"]


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
    monkeypatch.setattr("shared.stores.sqlite_connection.LOCK_WAIT_SECONDS", 0.2)
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


async def another_process_writes_between_the_update_and_the_read(
    ledger: SqliteLedger, path: Path
) -> list[str]:
    """Arms the ledger's connection: once it has run an UPDATE, just before its next SELECT,
    another connection (another process) replaces the row, as ``record`` does for a new ticket
    of the same id. Returns what that other write met: "wrote" or "locked out"."""
    met: list[str] = []
    updated = False

    def trace(statement: str) -> None:
        nonlocal updated
        if statement.lstrip().upper().startswith("UPDATE"):
            updated = True
        elif updated and not met and statement.lstrip().upper().startswith("SELECT"):
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute(
                    "UPDATE deliveries SET idempotency_key = 'another-tickets-key', "
                    "chain = 'C-2', sent_at = NULL, body = 'Another answer.' "
                    "WHERE ticket_id = 'T-1'"
                )
                met.append("wrote")
            except sqlite3.OperationalError:
                met.append("locked out")
            finally:
                other.close()

    await ledger._run(lambda conn: conn.set_trace_callback(trace))
    return met


@pytest.mark.parametrize("operation", ["mark_sent", "reroute"])
async def test_a_sqlite_update_reads_back_its_own_row_whatever_another_process_writes(
    tmp_path: Path, operation: str
) -> None:
    path = tmp_path / "outbox.sqlite3"
    ledger = SqliteLedger(path)
    entry, _ = await ledger.record(delivery(ticket_id="T-1", chain="C-1"))
    key = entry.idempotency_key
    if operation == "reroute":  # a row every attempt of which the channel refused
        assert await ledger.claim("T-1", "worker-1", 30, key)
        await ledger.note_failure("T-1", f"{REFUSED_PREFIX}the channel said no")
        await ledger.release("T-1", "worker-1")
    met = await another_process_writes_between_the_update_and_the_read(ledger, path)

    if operation == "mark_sent":
        result = await ledger.mark_sent("T-1", key)
    else:
        result = await ledger.reroute("T-1", key, "email")

    assert result is not None
    assert result.idempotency_key == key  # its own row, not the other ticket's
    assert met == ["locked out"]  # the other write waited for the update and its read
    await ledger.close()


async def test_a_failure_noted_for_one_answer_leaves_another_tickets_row_alone(
    ledger: DeliveryLedger,
) -> None:
    # Redrive planned a resend of one answer; meanwhile another ticket of the same id took the
    # row over. Its note (clearing a "may have been delivered" mark) must not touch that row.
    entry, _ = await ledger.record(delivery(ticket_id="T-1", chain="C-1"))

    await ledger.note_failure("T-1", "checked: it did not arrive", key="T-1.someone-elses")
    untouched = await ledger.get("T-1")
    await ledger.note_failure("T-1", "checked: it did not arrive", key=entry.idempotency_key)
    noted = await ledger.get("T-1")

    assert untouched is not None and untouched.last_error is None
    assert untouched.attempts == 0
    assert noted is not None and noted.last_error == "checked: it did not arrive"
