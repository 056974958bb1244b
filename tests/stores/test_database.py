"""The database behind TICKETS_DATABASE_URL: the schema is migrated once however many workers
start together, and a database that cannot be used is one sentence naming the host and the
database, never the password."""

import asyncio
from pathlib import Path

import psycopg
import pytest

from shared.settings import ConfigError
from shared.stores.config import StoreConfig
from shared.stores.errors import StoreUnavailable
from shared.stores.migrations import MIGRATIONS, VERSION_TABLE, migrate, schema_version
from shared.stores.postgres import PostgresDatabase
from shared.stores.url import parse_database_url, redact
from tests.support.postgres import PostgresServer, running_postgres
from tests.support.processes import free_port
from tests.support.temporal import wait_until


async def test_migrating_twice_applies_each_version_once(postgres: PostgresServer) -> None:
    url = postgres.create_database("migrate")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        first = await migrate(conn)
        second = await migrate(conn)
        assert first == [m.version for m in MIGRATIONS] and second == []
        assert await schema_version(conn) == MIGRATIONS[-1].version


async def test_a_database_migrated_under_the_earlier_table_name_keeps_its_versions(
    postgres: PostgresServer,
) -> None:
    # As versions 1-2 of this product left it: their tables, and `schema_migrations`.
    url = postgres.create_database("migrate")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for m in MIGRATIONS[:2]:
            await conn.execute(m.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                (m.version, m.description),
            )
        await conn.execute(
            "INSERT INTO deliveries (ticket_id, channel, revision, body, text_sha256, "
            "idempotency_key, sent_via) "
            "VALUES ('T-1', 'email', 1, 'sent before', 'x', 'k', 'email')"
        )

        # 1 and 2 again would fail: their tables exist
        assert await migrate(conn) == [m.version for m in MIGRATIONS[2:]]
        assert await schema_version(conn) == MIGRATIONS[-1].version
        cursor = await conn.execute("SELECT body, chain FROM deliveries")
        assert await cursor.fetchall() == [("sent before", None)]


@pytest.mark.parametrize(
    "table",
    [
        "version bigint PRIMARY KEY, dirty boolean NOT NULL",  # golang-migrate's
        "version integer PRIMARY KEY, description text NOT NULL",  # same shape, other rows
    ],
)
async def test_another_tools_schema_migrations_is_neither_read_as_ours_nor_changed(
    postgres: PostgresServer, table: str
) -> None:
    url = postgres.create_database("migrate")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"CREATE TABLE schema_migrations ({table})")
        second = "'add users'" if "description" in table else "false"
        await conn.execute(f"INSERT INTO schema_migrations VALUES (1, {second}), (2, {second})")

        assert await migrate(conn) == [m.version for m in MIGRATIONS]
        cursor = await conn.execute("SELECT count(*) FROM schema_migrations")
        assert await cursor.fetchone() == (2,)


async def test_workers_starting_at_once_migrate_a_fresh_database_once(
    postgres: PostgresServer,
) -> None:
    url = postgres.create_database("migrate")
    databases = [PostgresDatabase(url, pool_size=2) for _ in range(6)]
    try:
        await asyncio.gather(*(db.ready() for db in databases))
        async with databases[0].connection() as conn:
            cursor = await conn.execute(
                f"SELECT version, count(*) FROM {VERSION_TABLE} GROUP BY 1 ORDER BY 1"
            )
            assert await cursor.fetchall() == [(m.version, 1) for m in MIGRATIONS]
    finally:
        await asyncio.gather(*(db.close() for db in databases))


async def test_a_database_restart_costs_callers_at_most_an_error_never_the_pool(
    postgres: PostgresServer,
) -> None:
    db = PostgresDatabase(postgres.create_database("restart"), pool_size=2)
    try:
        await db.ready()
        await asyncio.to_thread(postgres.restart)
        async with db.connection() as conn:  # the pool replaced the cut connection
            cursor = await conn.execute("SELECT 1")
            assert await cursor.fetchone() == (1,)
    finally:
        await db.close()


async def _failure(url: str) -> str:
    db = PostgresDatabase(url)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await db.ready()
    finally:
        await db.close()
    message = str(caught.value)
    assert "\n" not in message and message.count(". ") == 0, message  # one sentence
    return message


async def test_refused_credentials_name_host_and_database_not_the_password(
    postgres: PostgresServer,
) -> None:
    message = await _failure(postgres.url("postgres", password="wrong-horse-battery"))
    assert f"database 'postgres' on 127.0.0.1:{postgres.port}" in message
    assert "refused the credentials of user postgres" in message
    assert "wrong-horse-battery" not in message and postgres.password not in message


async def test_a_user_who_may_not_create_tables_is_told_so_in_one_sentence(
    postgres: PostgresServer,
) -> None:
    # PostgreSQL 15 and later: only the database's owner may create in schema public.
    import psycopg

    url = postgres.create_database("limited")
    name = url.rsplit("/", 1)[1]
    role = f"reader_{name[-10:]}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'a-reader-password'".encode())
    limited = f"postgresql://{role}:a-reader-password@127.0.0.1:{postgres.port}/{name}"

    message = await _failure(limited)

    assert message.startswith(f"cannot prepare the tables in the PostgreSQL database '{name}'")
    assert "permission denied" in message and "a-reader-password" not in message
    assert "the user needs to create and alter tables in it" in message


async def test_a_migration_cut_short_is_not_blamed_on_the_users_permissions(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review (2026-12-07): any driver error while migrating (the statement timeout, a
    # connection dropped mid-start) was reported as permissions the user lacked.
    from shared.stores import postgres as stores_postgres

    async def migrate_cut_short(conn: object) -> None:
        raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

    monkeypatch.setattr(stores_postgres, "migrate", migrate_cut_short)
    message = await _failure(postgres.create_database("cut"))

    assert "canceling statement due to statement timeout" in message
    assert "permission" not in message and "create and alter" not in message
    assert "starting again is enough" in message


async def test_a_busy_pool_is_one_sentence_naming_the_wait_and_the_payload_store_waits_less(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A review (2026-12-07): the payload store, which workflow tasks use, waited 15 s for a
    # pooled connection, past the task's 10 s timeout: the task timed out with no reason in its
    # history. It waits PAYLOAD_POOL_WAIT_SECONDS (5), said as StoreUnavailable.
    from shared.stores import payloads_postgres
    from shared.stores.payloads_postgres import PostgresPayloadDriver

    monkeypatch.setattr(payloads_postgres, "PAYLOAD_POOL_WAIT_SECONDS", 0.2)
    db = PostgresDatabase(postgres.create_database("busy"), pool_size=1)
    try:
        await db.ready()
        async with db.connection():  # the pool's one connection, held
            with pytest.raises(StoreUnavailable) as waited:
                async with db.connection(0.1):
                    pass
            with pytest.raises(StoreUnavailable) as payloads:
                await PostgresPayloadDriver(db).sizes(["a" * 64])
    finally:
        await db.close()
    assert "no connection within 0.1s (the database does not answer, or all 1" in str(waited.value)
    assert "no connection within 0.2s" in str(payloads.value)
    # ... and what it waits for real stays under a workflow task's 10 s.
    from shared.stores.postgres import PAYLOAD_POOL_WAIT_SECONDS

    assert PAYLOAD_POOL_WAIT_SECONDS < 10


async def test_a_database_closed_after_an_abandoned_opening_opens_again(
    postgres: PostgresServer,
) -> None:
    # A review (2026-12-07): a caller that went away while the pool opened left the opening
    # behind; after close(), the next ready() took its old success and returned with no pool.
    db = PostgresDatabase(postgres.create_database("reopen"), pool_size=1)
    try:
        first = asyncio.create_task(db.ready())
        await asyncio.sleep(0)  # the opening has begun
        first.cancel()
        await wait_until(lambda: db._pool is not None, timeout=30, what="the opening to end")
        await db.close()
        # Its first use after close(): it opened nothing, and found no pool (an
        # AssertionError in connection() before the fix).
        async with db.connection() as conn:
            answered = await (await conn.execute("SELECT 1")).fetchone()
        assert answered == (1,)
    finally:
        await db.close()


async def test_a_database_that_does_not_exist_is_named(postgres: PostgresServer) -> None:
    message = await _failure(postgres.url("no_such_db"))
    assert "database 'no_such_db'" in message and "has no such database" in message
    assert postgres.password not in message


async def test_an_address_where_nothing_listens_is_reported_as_unreachable() -> None:
    port = free_port()
    message = await _failure(f"postgresql://app:s3cret-pw@127.0.0.1:{port}/tickets")
    assert f"database 'tickets' on 127.0.0.1:{port}" in message
    assert "nothing answered there" in message and "s3cret-pw" not in message


def test_a_url_that_is_not_postgresql_is_a_configuration_error_without_the_password() -> None:
    with pytest.raises(ConfigError, match="must be a postgresql:// URL") as caught:
        StoreConfig.from_env({"TICKETS_DATABASE_URL": "mysql://app:hunter22@db/tickets"})
    assert "hunter22" not in str(caught.value)
    with pytest.raises(ConfigError, match="not a valid PostgreSQL URL") as caught:
        parse_database_url("postgresql://app:hunter%2@db/tickets")  # bad percent-encoding
    assert "hunter" not in str(caught.value)
    with pytest.raises(ConfigError, match="port that is not a number") as caught:
        parse_database_url("postgresql://app:hunter22@db:notaport/tickets")
    assert "hunter22" not in str(caught.value)
    # A host list may leave a port out, as libpq reads it (the default port): it was refused
    # as "not a number", pointing at the password.
    for listed in ("postgresql://app:pw@h1:5432,h2/tickets", "postgresql://app:pw@h1,h2:5433/t"):
        assert parse_database_url(listed).host == "h1,h2"


def test_redaction_drops_passwords_from_the_user_part_and_the_query() -> None:
    assert redact("postgresql://app:hunter22@db.internal:5433/tickets?sslmode=require") == (
        "postgresql://app@db.internal:5433/tickets?sslmode=require"
    )
    assert "hunter22" not in redact("postgresql://db/tickets?user=app&password=hunter22")
    assert redact("not a url") == "(an unreadable URL)"
    assert "hunter22" not in repr(
        StoreConfig.from_env({"TICKETS_DATABASE_URL": "postgresql://app:hunter22@db/tickets"})
    )


def test_an_at_sign_in_the_query_does_not_unmask_the_querys_password() -> None:
    redacted = redact("postgresql://host/db?user=me@corp&password=s3cret")
    assert "s3cret" not in redacted


@pytest.mark.parametrize("password", ["Zm9v/YmFy+cXV4", "a?b#c", "p@ss/word", "x:y"])
def test_a_password_holding_url_delimiters_is_never_printed(password: str) -> None:
    url = f"postgresql://app:{password}@db:5432/tickets"
    secret = password.split(":")[-1]

    assert redact(url).startswith("postgresql://app@db:5432") and secret not in redact(url)


def test_a_base64_password_with_a_slash_stays_out_of_the_error_it_causes() -> None:
    # urlsplit reads the text after "/" as the path, and the port as "Zm9v": refused, unprinted.
    with pytest.raises(ConfigError, match="'/' before its host") as caught:
        parse_database_url("postgresql://app:Zm9v/YmFy+cXV4@db:5432/tickets")
    assert "YmFy" not in str(caught.value) and "Zm9v" not in str(caught.value)
    # The cause, which the URL printed (with a number for its port) does not show: say it.
    assert "percent-encoded (%2F %40 %23 %3F %3A %25)" in str(caught.value)


@pytest.mark.parametrize("password", ["Xy@Secret9", "2024/Spring9", "Se:cr@et/x9"])
def test_a_password_libpq_would_read_as_the_host_or_database_is_refused_unprinted(
    password: str,
) -> None:
    # libpq ends the user part at the first "@" and the host at the first "/": the messages
    # named "database 'tickets' on Secret9@127.0.0.1:1", or the port 2024 and a database
    # "Spring9@db/tickets".
    with pytest.raises(ConfigError, match="before its host that is not percent-encoded") as err:
        parse_database_url(f"postgresql://app:{password}@db:5432/tickets")
    assert "Secret9" not in str(err.value) and "Spring9" not in str(err.value)
    assert "et/x9" not in str(err.value) and "postgresql://app@db:5432/tickets" in str(err.value)
    # Percent-encoded, and an "@" in the query, are read as written.
    encoded = parse_database_url("postgresql://app:Xy%40Secret9@db:5432/tickets?user=me@corp")
    assert (encoded.host, encoded.database, encoded.user) == ("db", "tickets", "me@corp")


def test_pool_size_and_threshold_are_checked_with_the_variable_named() -> None:
    with pytest.raises(ConfigError, match="TICKETS_DATABASE_POOL_SIZE must be between 1"):
        StoreConfig.from_env({"TICKETS_DATABASE_POOL_SIZE": "0"})
    with pytest.raises(ConfigError, match="TICKETS_PAYLOAD_OFFLOAD_BYTES must be a whole number"):
        StoreConfig.from_env({"TICKETS_PAYLOAD_OFFLOAD_BYTES": "lots"})
    config = StoreConfig.from_env({"TICKETS_DATABASE_POOL_SIZE": "3"})
    assert config.pool_size == 3 and config.offload_bytes == 128 * 1024


async def test_a_statement_that_hangs_is_cancelled_by_the_server(postgres: PostgresServer) -> None:
    import psycopg

    db = PostgresDatabase(postgres.create_database("hang"), statement_timeout_seconds=0.5)
    try:
        async with db.connection() as conn:
            with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
                await conn.execute("SELECT pg_sleep(30)")
            cursor = await conn.execute("SHOW statement_timeout")
            row = await cursor.fetchone()
    finally:
        await db.close()
    assert row is not None and row[0] == "500ms"


async def test_the_urls_own_options_are_kept_beside_the_statement_timeout(
    postgres: PostgresServer,
) -> None:
    # A keyword argument replaces the URL's parameter: the pool once dropped a search_path the
    # URL set, and every ledger call then failed ("relation deliveries does not exist").
    import psycopg

    base = postgres.create_database("path")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app")
    db = PostgresDatabase(f"{base}?options=-csearch_path%3Dapp&keepalives_idle=7")
    try:
        async with db.connection() as conn:
            path = await (await conn.execute("SHOW search_path")).fetchone()
            timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
            tables = await (
                await conn.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'app' "
                    "AND tablename = 'deliveries'"
                )
            ).fetchone()
            await db_ledger_roundtrip(db)
    finally:
        await db.close()
    assert path == ("app",) and timeout == ("2min",) and tables == (1,)
    from shared.stores.postgres import pool_settings

    assert "keepalives_idle" not in pool_settings(f"{base}?keepalives_idle=7", 1000)
    assert pool_settings(base, 0, env={}).get("options") is None
    own_timeout = pool_settings(f"{base}?options=-c%20statement_timeout%3D5s", 1000, env={})
    assert own_timeout["options"] == "-c statement_timeout=5s"  # the URL's own is kept
    assert pool_settings(base, 500, env={"PGOPTIONS": "-c work_mem=8MB"})["options"] == (
        "-c work_mem=8MB -c statement_timeout=500"
    )


async def db_ledger_roundtrip(db: PostgresDatabase) -> None:
    from shared.stores.postgres_ledger import PostgresLedger
    from tests.stores.test_ledger import delivery

    ledger = PostgresLedger(db)
    await ledger.record(delivery("T-PATH"))
    assert await ledger.get("T-PATH") is not None


async def test_a_database_stopped_under_a_running_process_is_named_as_such_by_its_probe() -> None:
    # The pool only times out: /readyz said "no answer within 3s" for a refused connection,
    # where the command line said "nothing answered there".
    with running_postgres() as server:
        db = PostgresDatabase(server.create_database("ping"), pool_size=1)
        try:
            await db.ping()
            await asyncio.to_thread(server.stop)
            with pytest.raises(StoreUnavailable) as caught:
                await asyncio.wait_for(db.ping(), 3)  # the readiness check's own limit
        finally:
            await db.close()

    assert "nothing answered there" in str(caught.value), caught.value
    assert server.password not in str(caught.value)


async def test_a_service_files_options_are_kept(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The statement timeout went as a startup option, which libpq takes over the service's:
    # its search_path was dropped, and the tables were migrated into and read from `public`.
    import psycopg

    base = postgres.create_database("service")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA ticketing")
    target = parse_database_url(base)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        "[tickets]\n"
        f"host=127.0.0.1\nport={postgres.port}\ndbname={target.database}\n"
        f"user={target.user}\npassword={postgres.password}\n"
        "options=-c search_path=ticketing\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.delenv("PGOPTIONS", raising=False)
    db = PostgresDatabase("postgresql:///?service=tickets", statement_timeout_seconds=7)
    try:
        async with db.connection() as conn:
            path = await (await conn.execute("SHOW search_path")).fetchone()
            timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
        await db_ledger_roundtrip(db)
    finally:
        await db.close()
    assert path == ("ticketing",) and timeout == ("7s",)
    with psycopg.connect(base, autocommit=True) as conn:
        where = conn.execute(
            "SELECT schemaname FROM pg_tables WHERE tablename = 'deliveries'"
        ).fetchall()
    assert where == [("ticketing",)]
    assert db.target.describe() == "database of the service 'tickets' (pg_service.conf)"
