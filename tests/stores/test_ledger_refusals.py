"""The ledger counts the sends of a decision (claims taken) and its channel's refusals for good,
so a row may move to another channel only when every send was refused (``refused_every_time``),
on SQLite and on PostgreSQL alike; ledgers of schema version 4 keep what they allowed."""

import sqlite3
from pathlib import Path

import psycopg
import pytest

from shared.stores import migrations
from shared.stores.ledger import (
    REFUSED_PREFIX,
    UNCERTAIN_PREFIX,
    DeliveryLedger,
    refused_every_time,
)
from shared.stores.migrations import MIGRATIONS, migrate
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from shared.stores.sqlite_schema import SCHEMA_VERSION
from tests.stores.conftest import delivery
from tests.support.postgres import PostgresServer


async def refused(ledger: DeliveryLedger, holder: str, ticket_id: str = "T-1") -> None:
    """One send, begun under its claim and refused for good, as the delivery activity does."""
    assert await ledger.claim(ticket_id, holder, 60) is True
    await ledger.note_failure(ticket_id, REFUSED_PREFIX + "550 no such mailbox")
    await ledger.release(ticket_id, holder)


async def test_every_send_refused_lets_the_row_move_after_two_refusals(
    ledger: DeliveryLedger,
) -> None:
    entry, _ = await ledger.record(delivery())
    await refused(ledger, "attempt-a")
    await refused(ledger, "attempt-b")  # a redrive before the routing was fixed

    twice = await ledger.get("T-1")
    assert twice is not None and (twice.sends, twice.refusals, twice.attempts) == (2, 2, 2)
    assert refused_every_time(twice)
    moved = await ledger.reroute("T-1", entry.idempotency_key, "email")
    assert moved is not None and moved.sent_via == "email" and moved.last_error is None
    # The new channel refuses too: it may move again, nothing having gone out anywhere.
    await refused(ledger, "attempt-c")
    again = await ledger.reroute("T-1", entry.idempotency_key, "chat")
    assert again is not None and again.sent_via == "chat"


async def test_a_refusal_noted_twice_counts_once_and_the_row_may_still_move(
    ledger: DeliveryLedger,
) -> None:
    # The delivery tries a refusal's note again while the database fails for now; a write that
    # went in though its answer was lost came again and counted the send's refusal twice, and
    # the row could never go by another channel.
    entry, _ = await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    await ledger.note_failure("T-1", REFUSED_PREFIX + "550 no such mailbox")
    await ledger.note_failure("T-1", REFUSED_PREFIX + "550 no such mailbox")
    await ledger.release("T-1", "attempt-a")

    row = await ledger.get("T-1")
    assert row is not None and (row.sends, row.refusals, row.attempts) == (1, 1, 1)
    assert refused_every_time(row)
    assert await ledger.reroute("T-1", entry.idempotency_key, "email") is not None


async def test_a_refusal_quoting_a_nul_byte_is_noted_and_the_row_may_move(
    ledger: DeliveryLedger,
) -> None:
    # A receiver answered 422 with a UTF-16 body: PostgreSQL's text refuses NUL, the note failed
    # every try, and the row never counted the refusal, so a redrive could not move it.
    entry, _ = await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    await ledger.note_failure("T-1", REFUSED_PREFIX + "422 \x00{\x00}\x00")
    await ledger.release("T-1", "attempt-a")

    row = await ledger.get("T-1")
    assert row is not None and row.last_error == REFUSED_PREFIX + "422 {}"
    assert (row.sends, row.refusals) == (1, 1) and refused_every_time(row)
    assert await ledger.reroute("T-1", entry.idempotency_key, "email") is not None


async def test_a_failure_for_now_before_the_refusal_keeps_the_row(ledger: DeliveryLedger) -> None:
    entry, _ = await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    await ledger.note_failure("T-1", "the webhook did not answer within 10s")
    await ledger.release("T-1", "attempt-a")
    await refused(ledger, "attempt-b")

    row = await ledger.get("T-1")
    assert row is not None and (row.sends, row.refusals, row.attempts) == (2, 1, 2)
    assert not refused_every_time(row)
    assert await ledger.reroute("T-1", entry.idempotency_key, "email") is None


async def test_a_send_that_never_reported_keeps_the_row_though_a_later_one_was_refused(
    ledger: DeliveryLedger,
) -> None:
    """The first send's worker died after taking its claim (no failure noted, the claim ran
    out): the answer may have gone out, whatever the next send heard."""
    entry, _ = await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 0) is True  # then its worker died
    await refused(ledger, "attempt-b")

    row = await ledger.get("T-1")
    # The dead send counted once when claimed and once more when its claim was taken over.
    assert row is not None and (row.sends, row.refusals, row.attempts) == (3, 1, 1)
    assert not refused_every_time(row)
    assert await ledger.reroute("T-1", entry.idempotency_key, "email") is None


async def old_workers_claim(ledger: DeliveryLedger, ticket_id: str, holder: str) -> None:
    """A claim as a worker of schema 4 takes it (no send counted), run out at once: it died
    mid-send."""
    if isinstance(ledger, SqliteLedger):
        conn = sqlite3.connect(ledger.path)
        conn.execute(
            "UPDATE deliveries SET claimed_by = ?, claimed_until = 0 WHERE ticket_id = ?",
            (holder, ticket_id),
        )
        conn.commit()
        conn.close()
        return
    assert isinstance(ledger, PostgresLedger)
    async with ledger.database.connection() as pg:
        await pg.execute(
            "UPDATE deliveries SET claimed_by = %s, claimed_until = now() - interval '1 s' "
            "WHERE ticket_id = %s",
            (holder, ticket_id),
        )


async def test_a_send_an_older_worker_never_reported_keeps_the_row_on_its_channel(
    ledger: DeliveryLedger,
) -> None:
    """During a rolling upgrade: refused once (counted), redriven, and a worker of the previous
    version took the row and died mid-send, counting nothing. Its answer may be out."""
    entry, _ = await ledger.record(delivery())
    await refused(ledger, "attempt-a")
    await old_workers_claim(ledger, "T-1", "old-version-attempt")

    assert await ledger.reroute("T-1", entry.idempotency_key, "email") is None  # claim left
    await refused(ledger, "attempt-b")  # a new worker's attempt, refused again
    row = await ledger.get("T-1")
    # One send counted for the first, two for the one that took over the dead claim.
    assert row is not None and (row.sends, row.refusals, row.attempts) == (3, 2, 2)
    assert await ledger.reroute("T-1", entry.idempotency_key, "email") is None


async def test_the_same_holder_claiming_again_counts_one_send(ledger: DeliveryLedger) -> None:
    await ledger.record(delivery())
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    assert await ledger.claim("T-1", "attempt-a", 60) is True  # a retry of its own claim
    await ledger.note_failure("T-1", REFUSED_PREFIX + "422 unknown customer")

    row = await ledger.get("T-1")
    assert row is not None and (row.sends, row.refusals) == (1, 1)
    assert refused_every_time(row)


async def test_a_new_decision_in_the_row_starts_its_counts_again(ledger: DeliveryLedger) -> None:
    await ledger.record(delivery(chain="run-1"))
    assert await ledger.claim("T-1", "attempt-a", 60) is True
    await ledger.note_failure("T-1", "503")
    await ledger.release("T-1", "attempt-a")

    entry, replaced = await ledger.record(delivery(chain="run-2"))  # the id submitted again
    assert replaced and (entry.sends, entry.refusals, entry.attempts) == (0, 0, 0)


def v4_ledger(path: Path) -> None:
    """A ledger file as schema version 4 left it: one unsent row refused by its one attempt,
    one refused by its second (the first timed out), one sent, one handed over uncertain."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE deliveries (
            ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, customer_id TEXT,
            revision INTEGER NOT NULL, body TEXT NOT NULL, delivered_at TEXT NOT NULL,
            text_sha256 TEXT, idempotency_key TEXT, sent_via TEXT NOT NULL DEFAULT 'ledger',
            sent_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            claimed_by TEXT, claimed_until REAL, chain TEXT
        );
        PRAGMA user_version = 4;
        """
    )
    conn.executemany(
        "INSERT INTO deliveries (ticket_id, channel, revision, body, delivered_at, text_sha256, "
        "idempotency_key, sent_via, sent_at, attempts, last_error) "
        "VALUES (?, 'chat', 1, 'Hello.', '2026-12-01T21:30:00+00:00', 'x', ?, 'email', ?, ?, ?)",
        V4_ROWS,
    )
    conn.commit()
    conn.close()


V4_ROWS = [
    ("T-1", "k-1", None, 1, REFUSED_PREFIX + "no customer_email"),
    ("T-2", "k-2", None, 2, REFUSED_PREFIX + "550 no such mailbox"),
    ("T-3", "k-3", "2026-12-01T21:30:01+00:00", 1, None),
    ("T-4", "k-4", None, 1, UNCERTAIN_PREFIX + "the connection broke"),
]
# What version 5 makes of them: (sends, refusals), and whether a row may move.
V5_COUNTS = {"T-1": (1, 1, True), "T-2": (0, 0, False), "T-3": (0, 0, False), "T-4": (0, 0, False)}


async def counts(ledger: DeliveryLedger) -> dict[str, tuple[int, int, bool]]:
    rows = [await ledger.get(t) for t in V5_COUNTS]
    return {r.ticket_id: (r.sends, r.refusals, refused_every_time(r)) for r in rows if r}


async def test_a_version_4_sqlite_ledger_keeps_what_it_allowed_to_move(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    v4_ledger(path)
    ledger = SqliteLedger(path)
    try:
        assert await counts(ledger) == V5_COUNTS
        assert await ledger.reroute("T-1", "k-1", "webhook") is not None
        assert await ledger.reroute("T-2", "k-2", "webhook") is None
    finally:
        await ledger.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    finally:
        conn.close()


async def test_a_version_4_postgres_ledger_keeps_what_it_allowed_to_move(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database("v4refusals")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        with monkeypatch.context() as released:
            released.setattr(migrations, "MIGRATIONS", MIGRATIONS[:4])
            assert await migrate(conn) == [1, 2, 3, 4]
        for ticket_id, key, sent_at, attempts, error in V4_ROWS:
            await conn.execute(
                "INSERT INTO deliveries (ticket_id, channel, revision, body, text_sha256, "
                "idempotency_key, sent_via, sent_at, attempts, last_error) "
                "VALUES (%s, 'chat', 1, 'Hello.', 'x', %s, 'email', %s, %s, %s)",
                (ticket_id, key, sent_at, attempts, error),
            )
        assert await migrate(conn) == [m.version for m in MIGRATIONS[4:]]
    database = PostgresDatabase(url, pool_size=2)
    try:
        ledger = PostgresLedger(database)
        assert await counts(ledger) == V5_COUNTS
        assert await ledger.reroute("T-1", "k-1", "webhook") is not None
        assert await ledger.reroute("T-2", "k-2", "webhook") is None
    finally:
        await database.close()
