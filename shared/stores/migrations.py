"""The PostgreSQL schema, versioned: applied in order, once, at worker start.

Several workers may start at the same moment against a fresh database. Each runs ``migrate`` in
one transaction that first takes a transaction-scoped advisory lock: the first applies what is
missing, the others wait on the lock and then find nothing left to do. A migration is never
edited once released; a change is a new version at the end of ``MIGRATIONS``.

No wait is unbounded: ALTER TABLE needs the table's ACCESS EXCLUSIVE lock, and while it waits for
a session that holds any lock on the table (one idle in a transaction that read it, say) every
other session's plain read of the table queues behind it, a running cluster's deliveries too. So
each try waits at most ``LOCK_TIMEOUT_SECONDS`` for a lock (the advisory lock too), gives up,
lets the queued readers through, and tries again after a pause; after ``LOCK_ATTEMPTS`` tries it
raises ``MigrationBlocked``, naming the table and the sessions holding it.
"""

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Final

import psycopg
from psycopg import AsyncConnection, errors

# Any constant shared by every version of this code; it names "ticket-agents schema migration"
# for pg_advisory_xact_lock (released at commit or rollback, so a crashed worker never holds it).
MIGRATION_LOCK_ID: Final = 7_318_442_001
# How long one try waits for a lock before giving up (SET LOCAL lock_timeout): short, since the
# table's readers queue behind an ALTER TABLE that waits.
LOCK_TIMEOUT_SECONDS: Final = 3.0
# Any one statement of a migration (SET LOCAL statement_timeout): they change the catalog only.
STATEMENT_TIMEOUT_SECONDS: Final = 60.0
# Tries in all, and the pause after the first failed one (doubled after each next one).
LOCK_ATTEMPTS: Final = 4
RETRY_PAUSE_SECONDS: Final = 1.0

log = logging.getLogger(__name__)


class MigrationBlocked(Exception):
    """Another session held a lock the migration needs through every try. The message is a
    clause for ``PostgresDatabase`` to put after the database's name: no password, one line."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


# The applied versions. Named for this product: `schema_migrations` (its name before
# 2026-12-02) is also golang-migrate's and Rails's, and in a database shared with either their
# version numbers would have been read as ours.
VERSION_TABLE: Final = "ticket_agents_schema_migrations"
EARLIER_VERSION_TABLE: Final = "schema_migrations"

MIGRATIONS: Final = (
    Migration(
        1,
        "delivery ledger and payload store",
        """
        CREATE TABLE deliveries (
            ticket_id       text PRIMARY KEY,
            channel         text NOT NULL,         -- the ticket's channel (email, chat, ...)
            customer_id     text,
            revision        integer NOT NULL,
            body            text NOT NULL,         -- the answer decided for this ticket
            text_sha256     text NOT NULL,
            idempotency_key text NOT NULL,
            sent_via        text NOT NULL,         -- ledger, webhook or email
            recorded_at     timestamptz NOT NULL DEFAULT now(),
            sent_at         timestamptz,           -- null until the channel accepted it
            attempts        integer NOT NULL DEFAULT 0,
            last_error      text
        );
        CREATE TABLE payloads (
            sha256     text PRIMARY KEY,           -- of data: a payload is stored once
            data       bytea NOT NULL,             -- the serialized Payload (codec output)
            size_bytes integer NOT NULL,
            stored_at  timestamptz NOT NULL DEFAULT now()
        );
        -- Which workflow each payload belongs to: what erasure on request and garbage
        -- collection look up. One payload may belong to several workflows.
        CREATE TABLE payload_owners (
            sha256        text NOT NULL REFERENCES payloads (sha256) ON DELETE CASCADE,
            owner_id      text NOT NULL,           -- workflow id ('' when none was known)
            owner_kind    text NOT NULL,           -- workflow, activity or none
            owner_type    text,
            run_id        text,
            first_seen_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (sha256, owner_id)
        );
        CREATE INDEX payload_owners_by_owner ON payload_owners (owner_id);
        """,
    ),
    Migration(
        2,
        "payload owners: namespace and last store time, for garbage collection",
        """
        -- The namespace of the owning workflow: a store shared by several namespaces is
        -- collected per namespace. NULL on rows recorded before this version.
        ALTER TABLE payload_owners ADD COLUMN namespace text;
        -- When this owner last stored this payload (first_seen_at is the first time): garbage
        -- collection leaves alone what was stored within its grace period. Rows recorded
        -- before this version count as stored now, which only delays their collection.
        ALTER TABLE payload_owners ADD COLUMN last_stored_at timestamptz NOT NULL DEFAULT now();
        """,
    ),
    Migration(
        3,
        "delivery claims and chains",
        """
        -- The attempt sending this answer now, and until when its claim holds (the database's
        -- clock). Workers of earlier versions ignore both columns.
        -- IF NOT EXISTS: this version was first released (beda9e9) with the two claim columns
        -- only, under the description in EARLIER_DESCRIPTIONS; a database it migrated has them
        -- and gets `chain` from version 4.
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS claimed_by text;
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS claimed_until timestamptz;
        -- Which ticket of this id the row answers: its workflow's first run id (NULL on rows
        -- recorded before; such a row belongs to every ticket of its id).
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS chain text;
        """,
    ),
    Migration(
        4,
        "delivery chains, where version 3 was applied as first released (claims only)",
        """
        -- Version 3 as beda9e9 released it added no `chain`; where version 3 added it, nothing.
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS chain text;
        """,
    ),
    Migration(
        5,
        "delivery sends and refusals counted",
        """
        -- Sends of the row's decision begun (claims taken) and refused for good by their
        -- channel: a redrive moves a row to another channel only when every send was refused
        -- (before, only a row whose one attempt was). An unsent row with one refused attempt
        -- counts one of each; any other, none (it is never moved). Workers of earlier versions
        -- count neither; a claim of theirs never given back counts twice when taken over, and a
        -- row left claimed is never moved (docs/stores.md). Safe to apply again (IF NOT
        -- EXISTS; counts already taken are left as they are).
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS sends integer NOT NULL DEFAULT 0;
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS refusals integer NOT NULL DEFAULT 0;
        UPDATE deliveries SET sends = 1, refusals = 1 WHERE sent_at IS NULL AND attempts = 1
            AND starts_with(last_error, 'refused for good: ') AND sends = 0 AND refusals = 0;
        """,
    ),
    Migration(
        6,
        "delivery rows keep the address the answer is for",
        """
        -- The ticket's customer_email: `erase --email` finds a web form's row (no customer id)
        -- by it once the ticket's workflow is gone. NULL on rows recorded before, and on rows
        -- workers of earlier versions record. Safe to apply again.
        ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS customer_email text;
        """,
    ),
    Migration(
        7,
        "the chains of tickets erased on request",
        """
        -- DeliveryLedger.fence: a delivery already under way as its ticket was erased records
        -- no row after (it wrote the answer, in plain text, once the erasure had deleted the
        -- rows). Random ids only. Workers of earlier versions do not look. Safe to apply again.
        CREATE TABLE IF NOT EXISTS erased_chains (
            chain      text PRIMARY KEY,
            erased_at  timestamptz NOT NULL DEFAULT now()
        );
        -- Every record reads it: a role granted on `deliveries` (a least-privilege worker's,
        -- granted ON ALL TABLES before this table existed) gets the same on it, or every
        -- delivery of such a worker failed "permission denied" from this version on.
        DO $grants$
        DECLARE
            g record;
        BEGIN
            FOR g IN
                SELECT DISTINCT grantee, privilege_type
                FROM information_schema.role_table_grants
                WHERE table_schema = current_schema() AND table_name = 'deliveries'
                    AND privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
                    AND grantee <> current_user
            LOOP
                IF g.grantee = 'PUBLIC' THEN
                    EXECUTE format('GRANT %s ON erased_chains TO PUBLIC', g.privilege_type);
                ELSE
                    EXECUTE format('GRANT %s ON erased_chains TO %I', g.privilege_type, g.grantee);
                END IF;
            END LOOP;
        END
        $grants$;
        """,
    ),
    Migration(
        8,
        "the version table readable by the roles that use the tables",
        f"""
        -- Every process reads the schema's version at start. The version table got its own
        -- name on 2026-12-02 (it was `schema_migrations`) and was created then with no grants:
        -- a role granted ON ALL TABLES before that (a least-privilege worker's, the codec
        -- server's, the API's) could not start once a privileged worker had moved the versions
        -- over: "permission denied for table {VERSION_TABLE}". It gets SELECT on it as any
        -- role that may read the deliveries. Safe to apply again.
        DO $grants$
        DECLARE
            g record;
        BEGIN
            FOR g IN
                SELECT DISTINCT grantee
                FROM information_schema.role_table_grants
                WHERE table_schema = current_schema() AND table_name = 'deliveries'
                    AND privilege_type = 'SELECT' AND grantee <> current_user
            LOOP
                IF g.grantee = 'PUBLIC' THEN
                    EXECUTE 'GRANT SELECT ON {VERSION_TABLE} TO PUBLIC';
                ELSE
                    EXECUTE format('GRANT SELECT ON {VERSION_TABLE} TO %I', g.grantee);
                END IF;
            END LOOP;
        END
        $grants$;
        """,
    ),
)

# Descriptions a version was released under before the one in MIGRATIONS: a database migrated
# under the earlier table name by that release is adopted with it (version 3 was first
# released, as claims only, by beda9e9).
EARLIER_DESCRIPTIONS: Final = {3: ("delivery claims: one attempt sends at a time",)}

# The version this code's tables are at once migrated.
LATEST: Final = max(m.version for m in MIGRATIONS)
# The oldest version this code's statements work on: the migrations after it only grant. A
# process that does not migrate (the API, the codec server, a dry run) runs on it, so rolling
# them out before the workers does not stop them ("at version 7 and this code needs 8").
USABLE_FROM: Final = 7


_CREATE_VERSION_TABLE = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version     integer PRIMARY KEY,
    description text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(conn: AsyncConnection) -> list[int]:
    """Bring the schema up to date; returns the versions this call applied (usually none).
    Raises ``MigrationBlocked`` when another session's lock outlasted every try."""
    # Read at call time (not as default arguments), so a test can shorten them.
    attempts, pause = max(1, LOCK_ATTEMPTS), RETRY_PAUSE_SECONDS
    started = time.monotonic()
    for attempt in range(1, attempts + 1):
        step = _Step()
        try:
            return await _migrate_once(conn, step)
        except errors.LockNotAvailable:
            if attempt == attempts:
                waited = time.monotonic() - started
                raise MigrationBlocked(await _blocked(conn, step, attempts, waited)) from None
            log.warning(
                "schema migration: another session holds %s; try %d of %d in %gs",
                step.waiting_for(),
                attempt + 1,
                attempts,
                pause,
            )
            await asyncio.sleep(pause)  # the sessions queued behind our ALTER TABLE run now
            pause *= 2
    raise AssertionError("unreachable")


@dataclass
class _Step:
    """What a try is doing, hence what it waited for when its lock_timeout fired."""

    tables: tuple[str, ...] = ()  # () while it takes the advisory lock
    version: int | None = None

    def waiting_for(self) -> str:
        if not self.tables:
            return f"the migration lock, pg_advisory_xact_lock({MIGRATION_LOCK_ID})"
        what = f"a lock on table {', '.join(self.tables)}"
        return what if self.version is None else f"{what} that migration {self.version} needs"


async def _migrate_once(conn: AsyncConnection, step: _Step) -> list[int]:
    async with conn.transaction():
        # Both bound this transaction only (a pooler in transaction mode keeps them to it too).
        await conn.execute(
            "SELECT set_config('lock_timeout', %s, true), "
            "set_config('statement_timeout', %s, true)",
            (
                f"{max(1, int(LOCK_TIMEOUT_SECONDS * 1000))}ms",
                f"{max(1, int(STATEMENT_TIMEOUT_SECONDS * 1000))}ms",
            ),
        )
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        step.tables = (VERSION_TABLE,)
        await conn.execute(_CREATE_VERSION_TABLE)
        current = await schema_version(conn)
        if current == 0:
            step.tables = (EARLIER_VERSION_TABLE,)
            current = await _adopt_earlier_versions(conn)
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            step.tables, step.version = _tables(migration) or (VERSION_TABLE,), migration.version
            await conn.execute(migration.sql.encode())
            await _record(conn, migration.version, migration.description)
            applied.append(migration.version)
    return applied


def _tables(migration: Migration) -> tuple[str, ...]:
    """The tables a migration alters or refers to (what it locks besides its own new ones)."""
    names = re.findall(
        r"(?:ALTER TABLE|REFERENCES)\s+(?:IF EXISTS\s+)?(\w+)", migration.sql, re.IGNORECASE
    )
    return tuple(dict.fromkeys(names))


async def _blocked(conn: AsyncConnection, step: _Step, attempts: int, waited: float) -> str:
    """One clause: what was waited for, who holds it (best effort: the pids), how to find them."""
    if step.tables:
        where = "l.relation = ANY (SELECT to_regclass(t) FROM unnest(%s::text[]) t)"
        params: tuple[object, ...] = (list(step.tables),)
        hint = f"relation = '{step.tables[0]}'::regclass"
    else:
        where = "l.locktype = 'advisory' AND ((l.classid::bigint << 32) | l.objid::bigint) = %s"
        params = (MIGRATION_LOCK_ID,)
        hint = "locktype = 'advisory'"
    holders = ""
    try:
        cursor = await conn.execute(
            "SELECT DISTINCT l.pid, a.state FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            f"WHERE l.granted AND l.pid <> pg_backend_pid() AND {where} ORDER BY 1",
            params,
        )
        rows = await cursor.fetchall()
        if rows:
            held = ", ".join(f"pid {pid}" + (f" {state}" if state else "") for pid, state in rows)
            holders = f" (held by {held})"
    except psycopg.Error:
        pass  # the sentence stands without the pids
    return (
        f"another session holds {step.waiting_for()}{holders} and kept it through {attempts} "
        f"tries over {waited:.0f}s; find it with pg_stat_activity and pg_locks (SELECT pid, "
        f"state, xact_start, query FROM pg_stat_activity WHERE pid IN (SELECT pid FROM pg_locks "
        f"WHERE {hint})), end its transaction (COMMIT, ROLLBACK or pg_terminate_backend(pid)) "
        "and start again"
    )


async def _record(conn: AsyncConnection, version: int, description: str) -> None:
    await conn.execute(
        f"INSERT INTO {VERSION_TABLE} (version, description) VALUES (%s, %s)",
        (version, description),
    )


async def _adopt_earlier_versions(conn: AsyncConnection) -> int:
    """A database this product migrated before the version table had its own name: its rows of
    `schema_migrations` are copied over, recognised by version and description both (another
    tool's table of that name has no such rows; it is read, never changed). Returns the highest
    version adopted (0 for none)."""
    cursor = await conn.execute(
        "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(%s) AND NOT attisdropped"
        " AND ((attname = 'version' AND atttypid = 'integer'::regtype)"
        " OR (attname = 'description' AND atttypid = 'text'::regtype))",
        (EARLIER_VERSION_TABLE,),
    )
    row = await cursor.fetchone()
    if not row or row[0] != 2:
        return 0
    cursor = await conn.execute(f"SELECT version, description FROM {EARLIER_VERSION_TABLE}")
    ours = {(m.version, m.description) for m in MIGRATIONS}
    ours |= {(v, d) for v, descriptions in EARLIER_DESCRIPTIONS.items() for d in descriptions}
    found = {v: d for v, d in await cursor.fetchall() if (v, d) in ours}
    # Ours were applied in order from 1: adopt the unbroken run only.
    adopted = [v for i, v in enumerate(sorted(found), start=1) if v == i]
    for version in adopted:
        # As recorded there: the description says which release applied it.
        await _record(conn, version, found[version])
    return adopted[-1] if adopted else 0


async def applied_version(conn: AsyncConnection) -> int:
    """The schema's version read without changing anything (0 with no version table): a
    process that only needs the tables checks this and runs no DDL when it is current."""
    cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,))
    row = await cursor.fetchone()
    return await schema_version(conn) if row and row[0] else 0


async def schema_version(conn: AsyncConnection) -> int:
    cursor = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
