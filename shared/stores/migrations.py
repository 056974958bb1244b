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

_CREATE_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
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
        cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
            applied.append(migration.version)
    return applied


async def schema_version(conn: AsyncConnection) -> int:
    cursor = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0
