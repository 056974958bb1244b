"""The PostgreSQL schema, versioned: applied in order, once, at worker start.

Several workers may start at the same moment against a fresh database. Each runs ``migrate`` in
one transaction that first takes a transaction-scoped advisory lock: the first applies what is
missing, the others wait on the lock and then find nothing left to do. A migration is never
edited once released; a change is a new version at the end of ``MIGRATIONS``.
"""

from dataclasses import dataclass
from typing import Final

from psycopg import AsyncConnection

# Any constant shared by every version of this code; it names "ticket-agents schema migration"
# for pg_advisory_xact_lock (released at commit or rollback, so a crashed worker never holds it).
MIGRATION_LOCK_ID: Final = 7_318_442_001


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


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
        ALTER TABLE deliveries ADD COLUMN claimed_by text;
        ALTER TABLE deliveries ADD COLUMN claimed_until timestamptz;
        -- Which ticket of this id the row answers: its workflow's first run id (NULL on rows
        -- recorded before; such a row belongs to every ticket of its id).
        ALTER TABLE deliveries ADD COLUMN chain text;
        """,
    ),
)

# The applied versions. Named for this product: `schema_migrations` (its name before
# 2026-12-02) is also golang-migrate's and Rails's, and in a database shared with either their
# version numbers would have been read as ours.
VERSION_TABLE: Final = "ticket_agents_schema_migrations"
EARLIER_VERSION_TABLE: Final = "schema_migrations"

_CREATE_VERSION_TABLE = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version     integer PRIMARY KEY,
    description text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate(conn: AsyncConnection) -> list[int]:
    """Bring the schema up to date; returns the versions this call applied (usually none)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        await conn.execute(_CREATE_VERSION_TABLE)
        current = await schema_version(conn)
        if current == 0:
            current = await _adopt_earlier_versions(conn)
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            await conn.execute(migration.sql.encode())
            await _record(conn, migration.version, migration.description)
            applied.append(migration.version)
    return applied


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
    adopted = sorted(v for v, d in await cursor.fetchall() if (v, d) in ours)
    # Ours were applied in order from 1: adopt the unbroken run only.
    adopted = [v for i, v in enumerate(adopted, start=1) if v == i]
    for version in adopted:
        await _record(conn, version, MIGRATIONS[version - 1].description)
    return adopted[-1] if adopted else 0


async def schema_version(conn: AsyncConnection) -> int:
    cursor = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
