"""The SQLite delivery ledger's schema: versioned with ``PRAGMA user_version`` and migrated under
``BEGIN IMMEDIATE``, so two processes opening the same file at once migrate it once. Version 1
is the original outbox table, so an existing ``outbox.sqlite3`` is upgraded in place and its rows
count as sent. A released version is never edited; a change is the next version."""

import sqlite3
import time
from typing import Final

from shared.delivery import idempotency_key, text_sha256

# Several workers on one machine may share the file: wait for its lock instead of failing.
LOCK_WAIT_SECONDS: Final = 30
# The files SQLite keeps beside a database in WAL mode (given the database's mode when created).
WAL_FILES: Final = ("-wal", "-shm")
WAL_RETRY_SECONDS: Final = 0.01

_V1 = """
CREATE TABLE IF NOT EXISTS deliveries (
    ticket_id    TEXT PRIMARY KEY,
    channel      TEXT NOT NULL,
    customer_id  TEXT,
    revision     INTEGER NOT NULL,
    body         TEXT NOT NULL,
    delivered_at TEXT NOT NULL
)
"""
_V2 = (
    "ALTER TABLE deliveries ADD COLUMN text_sha256 TEXT",
    "ALTER TABLE deliveries ADD COLUMN idempotency_key TEXT",
    "ALTER TABLE deliveries ADD COLUMN sent_via TEXT NOT NULL DEFAULT 'ledger'",
    "ALTER TABLE deliveries ADD COLUMN sent_at TEXT",
    "ALTER TABLE deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE deliveries ADD COLUMN last_error TEXT",
)
# Version 3: the attempt sending an answer now and until when (see DeliveryLedger.claim), and
# which ticket of its id a row answers (its workflow's first run id; NULL on older rows).
_V3 = (
    "ALTER TABLE deliveries ADD COLUMN claimed_by TEXT",
    "ALTER TABLE deliveries ADD COLUMN claimed_until REAL",  # seconds since the epoch
    "ALTER TABLE deliveries ADD COLUMN chain TEXT",
)
# Version 4: `chain` where version 3 was applied as first released (beda9e9: the claim columns
# only, at the same user_version 3); a file version 3 gave it keeps it as it is.
_V4_CHAIN = "ALTER TABLE deliveries ADD COLUMN chain TEXT"
# Version 5: how many sends of this decision began (claims) and how many its channel refused for
# good, so a redrive may move a row to another channel only when every send was refused (before,
# only a row whose one attempt was: a second refusal stranded it on its channel). A row version 4
# left unsent with one refused attempt counts one of each; any other, none (never moved).
# Safe to apply again (a file set back to an earlier version): columns it has are kept, and
# counts already taken.
_V5_COLUMNS = {
    "sends": "ALTER TABLE deliveries ADD COLUMN sends INTEGER NOT NULL DEFAULT 0",
    "refusals": "ALTER TABLE deliveries ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0",
}
_V5_COUNTS = (
    "UPDATE deliveries SET sends = 1, refusals = 1 WHERE sent_at IS NULL AND attempts = 1 "
    "AND substr(last_error, 1, 18) = 'refused for good: ' AND sends = 0 AND refusals = 0"
)
# Version 6: the address the answer is for (a web form's ticket has no customer id), so erasure
# by address finds the row after the ticket's workflow is gone. NULL on older rows.
_V6_EMAIL = "ALTER TABLE deliveries ADD COLUMN customer_email TEXT"
# Version 7: the chains of tickets erased on request (DeliveryLedger.fence): a delivery already
# under way as its ticket was erased records no row after (it wrote the answer, in plain text,
# once the erasure had deleted the rows). Random ids only. Safe to apply again.
_V7_ERASED = (
    "CREATE TABLE IF NOT EXISTS erased_chains (chain TEXT PRIMARY KEY, erased_at TEXT NOT NULL)"
)
SCHEMA_VERSION: Final = 7


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version < 1:
            conn.execute(_V1)
        if version < 2:
            for statement in _V2:
                conn.execute(statement)
            # Rows of the original outbox were delivered when written: record their hash and key.
            rows = conn.execute("SELECT ticket_id, body, delivered_at FROM deliveries").fetchall()
            for ticket_id, body, delivered_at in rows:
                digest = text_sha256(body)
                conn.execute(
                    "UPDATE deliveries SET text_sha256 = ?, idempotency_key = ?, sent_at = ?, "
                    "attempts = 1 WHERE ticket_id = ?",
                    (digest, idempotency_key(ticket_id, digest), delivered_at, ticket_id),
                )
        if version < 3:
            for statement in _V3:
                conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(deliveries)")}
        if version < 4 and "chain" not in columns:
            conn.execute(_V4_CHAIN)
        if version < 5:
            for column, statement in _V5_COLUMNS.items():
                if column not in columns:
                    conn.execute(statement)
            conn.execute(_V5_COUNTS)
        if version < 6 and "customer_email" not in columns:
            conn.execute(_V6_EMAIL)
        if version < 7:
            conn.execute(_V7_ERASED)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def use_wal(conn: sqlite3.Connection) -> None:
    """WAL mode, kept in the file once set. Switching needs the file to itself, and SQLite
    answers "database is locked" at once (its busy timeout does not apply to the switch) while
    another connection opens the same new file: so look first, and retry the switch briefly."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_SECONDS)  # another connection is switching it right now
