"""Who changes the schema, and what a connection asks of the server: only a process that
migrates runs DDL, and only when the schema is behind (a role that may use the tables but not
create them works once they are current; the replay gate's and the codec server's converters
change nothing); no statement is prepared on the server (a pooler in transaction mode hands the
next transaction another server session); a query in flight is bounded by tcp_user_timeout."""

import asyncio
from pathlib import Path

import psycopg
import pytest

from shared.data_converter import external_storage
from shared.stores.config import StoreConfig
from shared.stores.errors import SchemaBehind, StoreUnavailable
from shared.stores.migrations import LATEST, MIGRATIONS, USABLE_FROM, VERSION_TABLE
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from tests.stores.conftest import delivery
from tests.support.postgres import PostgresServer


def _version_table(url: str) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
    return row[0] if row else None


async def migrated(url: str) -> None:
    owner = PostgresDatabase(url)
    await owner.ready()
    await owner.close()


def granted_role(postgres: PostgresServer, url: str, *before: str) -> PostgresDatabase:
    """A role that may use every table there now (``before``: statements run as the owner
    first), and a connection as it."""
    name = url.rsplit("/", 1)[1]
    role = f"user_{name[-10:]}"
    with psycopg.connect(postgres.url(name), autocommit=True) as conn:
        for statement in before:
            conn.execute(statement.encode())
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'a-user-password'".encode())
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
        conn.execute(grant.encode())
    return PostgresDatabase(f"postgresql://{role}:a-user-password@127.0.0.1:{postgres.port}/{name}")


async def test_a_role_that_may_only_use_the_tables_works_once_they_are_current(
    postgres: PostgresServer,
) -> None:
    # Every process ran CREATE TABLE IF NOT EXISTS on its first use, which needs CREATE on the
    # schema: a role granted the tables alone could not even read a payload.
    url = postgres.create_database("granted")
    await migrated(url)
    limited = granted_role(postgres, url)
    try:
        ledger = PostgresLedger(limited)
        await ledger.record(delivery("T-ROLE"))
        assert await ledger.get("T-ROLE") is not None
    finally:
        await limited.close()


async def test_a_role_granted_the_tables_before_the_fence_table_gets_it_with_the_migration(
    postgres: PostgresServer,
) -> None:
    # Every record reads erased_chains (migration 7): a worker role granted ON ALL TABLES before
    # it existed failed every delivery with "permission denied" once a privileged worker had
    # migrated. Set back to version 6 here (the table and its version row dropped), granted,
    # then migrated to 7 by the owner.
    url = postgres.create_database("fenced")
    await migrated(url)
    limited = granted_role(
        postgres,
        url,
        "DROP TABLE erased_chains",
        f"DELETE FROM {VERSION_TABLE} WHERE version >= 7",
    )
    await migrated(url)  # to 7 and on, by the owner
    try:
        ledger = PostgresLedger(limited)
        await ledger.record(delivery("T-ROLE", chain="run-1"))
        await ledger.fence(["run-2"])  # erase under the same role
        assert await ledger.get("T-ROLE") is not None
    finally:
        await limited.close()


async def test_a_role_granted_the_tables_under_the_earlier_version_table_still_starts(
    postgres: PostgresServer,
) -> None:
    # A database migrated when the version table was `schema_migrations`, a role granted ON
    # ALL TABLES then: once a privileged worker of a later version had moved the versions to
    # their own table (created with no grants), every process of that role failed at start,
    # "permission denied for table ticket_agents_schema_migrations" (a review, 2026-12-07).
    url = postgres.create_database("renamed")
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.url(name), autocommit=True) as conn:
        conn.execute(
            b"CREATE TABLE schema_migrations (version integer PRIMARY KEY, description text "
            b"NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in MIGRATIONS[:6]:
            conn.execute(migration.sql.encode())
            conn.execute(
                b"INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
    limited = granted_role(postgres, url)
    await migrated(url)  # by a privileged worker of this version
    try:
        ledger = PostgresLedger(limited)
        await ledger.record(delivery("T-ROLE", chain="run-1"))
        assert await ledger.get("T-ROLE") is not None
    finally:
        await limited.close()


async def test_a_role_that_may_not_read_the_version_table_is_told_so_not_to_alter_tables(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database("unread")
    await migrated(url)
    limited = granted_role(postgres, url)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(postgres.url(name), autocommit=True) as conn:
        conn.execute(f"REVOKE ALL ON {VERSION_TABLE} FROM user_{name[-10:]}".encode())
    try:
        with pytest.raises(StoreUnavailable) as refused:
            await limited.ready()
    finally:
        await limited.close()

    said = str(refused.value)
    assert f"this user may not read {VERSION_TABLE} (grant it SELECT" in said
    assert "create and alter tables" not in said


async def test_a_converters_own_store_runs_no_ddl_and_says_the_schema_is_behind(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    # The replay gate runs in CI with the next release's code and read access to production:
    # its first payload read applied that release's migrations before the deploy was approved.
    url = postgres.create_database("reader")
    storage = external_storage(StoreConfig(data_dir=tmp_path, database_url=url))
    driver = storage.drivers[0]
    assert isinstance(driver, PostgresPayloadDriver)

    with pytest.raises(SchemaBehind) as behind:  # a StoreUnavailable the API's /readyz names
        await driver.get_many(["0" * 64])
    await driver.database.close()

    assert f"are at version 0 and this code needs {LATEST}" in str(behind.value)
    assert "a worker of this version brings them up to date" in str(behind.value)
    assert _version_table(url) is None  # nothing was created


async def test_a_process_that_does_not_migrate_runs_on_a_schema_behind_only_by_grants(
    postgres: PostgresServer,
) -> None:
    # Migration 8 only grants: the API or the codec server of this version, rolled out before
    # the workers, refused a version-7 database ("at version 7 and this code needs 8") though
    # nothing they run needs 8 (a review, 2026-12-07). A migrating process still brings it up.
    url = postgres.create_database("grants")
    await migrated(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DELETE FROM {VERSION_TABLE} WHERE version > {USABLE_FROM}".encode())
    reader = PostgresDatabase(url, migrates=False)
    try:
        await reader.ready()
        await reader.ping()
    finally:
        await reader.close()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT max(version) FROM {VERSION_TABLE}".encode()).fetchone()
    assert row is not None and row[0] == USABLE_FROM  # it read, and changed nothing
    await migrated(url)
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT max(version) FROM {VERSION_TABLE}".encode()).fetchone()
    assert row is not None and row[0] == LATEST


async def test_no_statement_is_prepared_on_the_server_and_a_send_is_bounded(
    postgres: PostgresServer,
) -> None:
    # psycopg prepares a query on its fifth run: behind PgBouncer in transaction mode the next
    # run lands on another server session, where "_pg3_0" does not exist.
    db = PostgresDatabase(postgres.create_database("prepared"), pool_size=1)
    try:
        ledger = PostgresLedger(db)
        await ledger.record(delivery("T-PREP"))
        for _ in range(10):
            assert await ledger.get("T-PREP") is not None
        async with db.connection() as conn:
            cursor = await conn.execute("SELECT count(*) FROM pg_prepared_statements")
            prepared = await cursor.fetchone()
            parameters = conn.info.get_parameters()
    finally:
        await db.close()

    assert prepared == (0,)
    assert parameters.get("tcp_user_timeout") == "30000"


class ClosingServerFake:
    """Accepts each TCP connection and closes it at once (a database on its way down), and
    counts them."""

    def __init__(self) -> None:
        self.accepted = 0

    async def __aenter__(self) -> int:
        async def close_at_once(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            writer.close()

        self._server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def test_callers_arriving_together_share_one_attempt_to_open_the_pool() -> None:
    # Each caller waited for the ones before it to fail, one connect timeout each: a decode of
    # 20 references took about 100 s with the database hung.
    fake = ClosingServerFake()
    async with fake as port:
        db = PostgresDatabase(f"postgresql://u:a-password@127.0.0.1:{port}/tickets")
        failed = await asyncio.gather(*(db.ready() for _ in range(4)), return_exceptions=True)
        again = await asyncio.gather(db.ready(), return_exceptions=True)

    assert all(isinstance(f, StoreUnavailable) for f in failed + again), failed + again
    assert len({str(f) for f in failed}) == 1 and "a-password" not in str(failed[0])
    assert fake.accepted == 2  # the four callers' one attempt, then the next caller's own
