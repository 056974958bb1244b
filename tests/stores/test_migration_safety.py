"""Starting against a database in use, or one an earlier release migrated: a migration that needs
a table another session holds gives up (and lets that table's readers through) instead of
waiting for ever, then stops the worker with one sentence; the statement timeout can be turned
off for a connection pooler; and a database or SQLite file whose version 3 was applied as first
released (claims only, no `chain`) gets the column."""

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from shared.delivery import idempotency_key, text_sha256
from shared.settings import ConfigError
from shared.stores import migrations
from shared.stores import postgres as postgres_module
from shared.stores.config import StoreConfig
from shared.stores.errors import StoreUnavailable
from shared.stores.factory import open_stores
from shared.stores.ledger import NewDelivery
from shared.stores.migrations import MIGRATIONS, VERSION_TABLE, migrate, schema_version
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from shared.stores.sqlite_schema import SCHEMA_VERSION
from tests.support.postgres import PostgresServer

# What beda9e9 released as version 3 (claims only) under the version table's earlier name.
FIRST_V3_DESCRIPTION = "delivery claims: one attempt sends at a time"
# A code that waits for ever fails here instead of hanging the run.
NO_HANG_SECONDS = 30


def new_delivery(ticket_id: str = "T-2", chain: str | None = "run-2") -> NewDelivery:
    digest = text_sha256("Hello.")
    return NewDelivery(
        ticket_id=ticket_id,
        channel="email",
        customer_id="C-1",
        revision=1,
        body="Hello.",
        text_sha256=digest,
        idempotency_key=idempotency_key(ticket_id, digest, chain),
        sent_via="ledger",
        chain=chain,
    )


@pytest.fixture
def short_lock_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    # raising=False: on code without these settings the test fails on the hang, not here.
    monkeypatch.setattr(migrations, "LOCK_TIMEOUT_SECONDS", 0.2, raising=False)
    monkeypatch.setattr(migrations, "RETRY_PAUSE_SECONDS", 0.2, raising=False)
    monkeypatch.setattr(migrations, "LOCK_ATTEMPTS", 5, raising=False)


@pytest.fixture
async def behind(postgres: PostgresServer) -> AsyncIterator[str]:
    """A database migrated to version 2 only (versions 3 on are forgotten: their ALTER TABLE
    deliveries runs at the next start), and its URL."""
    url = postgres.create_database("blocked")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await migrate(conn)
        await conn.execute(f"DELETE FROM {VERSION_TABLE} WHERE version >= 3")
    yield url


@pytest.fixture
async def blocker(behind: str) -> AsyncIterator[psycopg.AsyncConnection]:
    """A session idle in a transaction that read the ledger: it holds ACCESS SHARE on it."""
    conn = await psycopg.AsyncConnection.connect(behind)
    await conn.execute("SELECT count(*) FROM deliveries")
    try:
        yield conn
    finally:
        await conn.rollback()
        await conn.close()


async def migration_waits(url: str) -> None:
    """Until some session waits for a lock on deliveries (the migration's ALTER TABLE)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cursor = await conn.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted "
                "AND relation = 'deliveries'::regclass AND mode = 'AccessExclusiveLock'"
            )
            if (await cursor.fetchone()) != (0,):
                return
            await asyncio.sleep(0.01)


async def plain_read(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute("SELECT count(*) FROM deliveries")
        row = await cursor.fetchone()
        return int(row[0]) if row else -1


@pytest.mark.usefixtures("short_lock_waits")
async def test_a_migration_blocked_by_another_session_gives_up_with_one_sentence(
    postgres: PostgresServer, behind: str, blocker: psycopg.AsyncConnection
) -> None:
    db = PostgresDatabase(behind)
    starting = asyncio.create_task(db.ready())
    try:
        await asyncio.wait_for(migration_waits(behind), NO_HANG_SECONDS)
        # A read queued behind the waiting ALTER TABLE gets through while the worker still
        # retries: the migration gives the table back between its tries.
        reading = asyncio.create_task(plain_read(behind))
        done, _ = await asyncio.wait(
            {reading, starting}, timeout=NO_HANG_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        assert reading in done and starting not in done
        assert reading.result() == 0

        with pytest.raises(StoreUnavailable) as caught:
            await asyncio.wait_for(starting, NO_HANG_SECONDS)
    finally:
        starting.cancel()
        await db.close()

    message = str(caught.value)
    assert "\n" not in message and ". " not in message, message  # one sentence
    name = behind.rsplit("/", 1)[1]
    assert message.startswith(f"cannot migrate the tables in the PostgreSQL database '{name}'")
    assert "another session holds a lock on table deliveries" in message
    assert f"pid {blocker.info.backend_pid} idle in transaction" in message
    assert "pg_stat_activity" in message and "pg_locks" in message
    assert postgres.password not in message
    assert await plain_read(behind) == 0  # nothing left queued on the table


@pytest.mark.usefixtures("short_lock_waits")
async def test_a_migration_blocked_for_a_while_succeeds_on_a_later_try(
    behind: str, blocker: psycopg.AsyncConnection
) -> None:
    gave_up_once = asyncio.Event()

    class FirstRetry(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            gave_up_once.set()  # logged on the loop's thread, between two tries

    handler = FirstRetry(level=logging.WARNING)
    logging.getLogger(migrations.__name__).addHandler(handler)
    db = PostgresDatabase(behind)
    starting = asyncio.create_task(db.ready())
    try:
        await asyncio.wait_for(gave_up_once.wait(), NO_HANG_SECONDS)
        assert not starting.done()
        await blocker.rollback()  # the session's transaction ends: the table is free
        await asyncio.wait_for(starting, NO_HANG_SECONDS)
        async with db.connection() as conn:
            assert await schema_version(conn) == MIGRATIONS[-1].version
    finally:
        logging.getLogger(migrations.__name__).removeHandler(handler)
        starting.cancel()
        await db.close()


async def test_the_first_connection_has_the_pools_keepalives_and_statement_timeout(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, str] = {}

    async def looking(conn: psycopg.AsyncConnection) -> list[int]:
        seen.update(conn.info.get_parameters())
        cursor = await conn.execute("SHOW statement_timeout")
        row = await cursor.fetchone()
        seen["shown statement_timeout"] = str(row[0]) if row else ""
        return []

    monkeypatch.setattr(postgres_module, "migrate", looking)
    db = PostgresDatabase(postgres.create_database("first"), statement_timeout_seconds=7)
    try:
        await db.ready()
    finally:
        await db.close()
    assert seen["keepalives"] == "1" and seen["keepalives_idle"] == "30"
    assert seen["keepalives_count"] == "3" and seen["connect_timeout"] == "5"
    assert seen["shown statement_timeout"] == "7s"

    # The URL's own connect_timeout is kept (a managed database that wakes slowly): 5 s
    # replaced it, and such a worker gave up as if nothing answered.
    seen.clear()
    url = postgres.create_database("own_timeout")
    db = PostgresDatabase(f"{url}{'&' if '?' in url else '?'}connect_timeout=20")
    try:
        await db.ready()
    finally:
        await db.close()
    assert seen["connect_timeout"] == "20"


def test_the_statement_timeout_setting_is_read_and_checked() -> None:
    assert StoreConfig.from_env({}).statement_timeout_seconds == 120
    assert StoreConfig.from_env({"TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS": ""}) == (
        StoreConfig.from_env({})
    )
    read = StoreConfig.from_env({"TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS": " 0 "})
    assert read.statement_timeout_seconds == 0
    for bad in ("-1", "86401", "ten", "1.5"):
        with pytest.raises(ConfigError, match="TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS"):
            StoreConfig.from_env({"TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS": bad})


@pytest.mark.parametrize(("setting", "shown"), [("0", "0"), ("9", "9s"), ("", "2min")])
async def test_the_statement_timeout_setting_reaches_every_connection(
    postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    shown: str,
) -> None:
    monkeypatch.delenv("PGOPTIONS", raising=False)
    env = {
        "TICKETS_DATABASE_URL": postgres.create_database("timeout"),
        "TICKETS_DATA_DIR": str(tmp_path),
        "TICKETS_DATABASE_STATEMENT_TIMEOUT_SECONDS": setting,
    }
    stores = await open_stores(env)
    try:
        assert stores.database is not None
        async with stores.database.connection() as conn:
            cursor = await conn.execute("SHOW statement_timeout")
            assert await cursor.fetchone() == (shown,)
            # 0: no startup options at all, which a pooler that refuses them accepts.
            assert ("options" in conn.info.get_parameters()) is (setting != "0")
    finally:
        await stores.close()


async def old_v3_database(url: str) -> None:
    """The schema as beda9e9 left it: versions 1-2, then 3 as first released (claim columns,
    no chain), recorded in the version table's earlier name."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for m in MIGRATIONS[:2]:
            await conn.execute(m.sql.encode())
        await conn.execute(
            "ALTER TABLE deliveries ADD COLUMN claimed_by text;"
            "ALTER TABLE deliveries ADD COLUMN claimed_until timestamptz"
        )
        await conn.execute(
            "INSERT INTO schema_migrations (version, description) VALUES (%s, %s), (%s, %s), "
            "(%s, %s)",
            (1, MIGRATIONS[0].description, 2, MIGRATIONS[1].description, 3, FIRST_V3_DESCRIPTION),
        )
        await conn.execute(
            "INSERT INTO deliveries (ticket_id, channel, revision, body, text_sha256, "
            "idempotency_key, sent_via, claimed_by) "
            "VALUES ('T-1', 'email', 1, 'sent before', 'x', 'k', 'email', 'attempt-a')"
        )


async def test_a_postgres_database_whose_version_3_had_no_chain_starts_and_records(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database("v3claims")
    await old_v3_database(url)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        assert await migrate(conn) == [m.version for m in MIGRATIONS[3:]]
        assert await schema_version(conn) == MIGRATIONS[-1].version
        cursor = await conn.execute(f"SELECT version, description FROM {VERSION_TABLE}")
        assert (3, FIRST_V3_DESCRIPTION) in await cursor.fetchall()
        cursor = await conn.execute("SELECT body, claimed_by, chain FROM deliveries")
        assert await cursor.fetchall() == [("sent before", "attempt-a", None)]

    db = PostgresDatabase(url, pool_size=2)
    try:
        await db.ready()  # what a worker does at start
        entry, created = await PostgresLedger(db).record(new_delivery())
        assert created and entry.chain == "run-2"
    finally:
        await db.close()


async def test_a_fresh_postgres_database_gets_every_version_and_version_4_changes_nothing(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database("fresh")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        assert await migrate(conn) == [m.version for m in MIGRATIONS]
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'deliveries'::regclass "
            "AND attname = 'chain' AND NOT attisdropped"
        )
        assert await cursor.fetchone() == (1,)


def old_v3_sqlite(path: Path) -> None:
    """A ledger file as beda9e9 left it: user_version 3 with the claim columns and no chain."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE deliveries (
            ticket_id TEXT PRIMARY KEY, channel TEXT NOT NULL, customer_id TEXT,
            revision INTEGER NOT NULL, body TEXT NOT NULL, delivered_at TEXT NOT NULL,
            text_sha256 TEXT, idempotency_key TEXT, sent_via TEXT NOT NULL DEFAULT 'ledger',
            sent_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            claimed_by TEXT, claimed_until REAL
        );
        INSERT INTO deliveries (ticket_id, channel, revision, body, delivered_at, text_sha256,
            idempotency_key, sent_at, attempts)
        VALUES ('T-1', 'email', 1, 'sent before', '2026-12-01T21:30:00+00:00', 'x', 'k',
            '2026-12-01T21:30:01+00:00', 1);
        PRAGMA user_version = 3;
        """
    )
    conn.commit()
    conn.close()


async def test_a_sqlite_ledger_whose_version_3_had_no_chain_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    old_v3_sqlite(path)
    ledger = SqliteLedger(path)
    try:
        before = await ledger.get("T-1")
        assert before is not None and before.body == "sent before" and before.chain is None
        entry, created = await ledger.record(new_delivery())
        assert created and entry.chain == "run-2"
    finally:
        await ledger.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(deliveries)")]
    finally:
        conn.close()
    assert columns.count("chain") == 1 and columns.count("claimed_by") == 1


async def test_a_sqlite_ledger_version_3_gave_chain_keeps_one(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = SqliteLedger(path)
    await first.record(new_delivery("T-1", chain="run-1"))
    await first.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 3")  # as ce1a068 left it: version 3 with chain
    conn.commit()
    conn.close()

    again = SqliteLedger(path)
    try:
        entry = await again.get("T-1")
        assert entry is not None and entry.chain == "run-1"
    finally:
        await again.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(deliveries)")]
    finally:
        conn.close()
    assert columns.count("chain") == 1
