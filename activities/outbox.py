"""The outbox: where final answers are written, exactly once per ticket.

Delivery is the one side effect that must never happen twice, yet activities are retried and may
run again after a worker crash. The outbox makes the write idempotent: the ticket id is the primary
key, a second delivery of the same ticket finds the first and reports it instead of writing again.
A real e-mail or chat sender would read this table (the transactional-outbox pattern) and mark rows
as sent; that sender is outside the workflow, so retries here never reach a customer twice.

SQLite is blocking I/O: every call runs in a thread so the worker's event loop keeps serving.
"""

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from shared.view import DeliveryReceipt

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    ticket_id    TEXT PRIMARY KEY,
    channel      TEXT NOT NULL,
    customer_id  TEXT,
    revision     INTEGER NOT NULL,
    body         TEXT NOT NULL,
    delivered_at TEXT NOT NULL
)
"""


class Outbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Several workers on one machine may share the file: wait for locks instead of failing.
        conn = sqlite3.connect(self.path, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SCHEMA)
        return conn

    def _location(self, ticket_id: str) -> str:
        return f"outbox:{self.path}#{ticket_id}"

    def _deliver(
        self, ticket_id: str, channel: str, customer_id: str | None, revision: int, body: str
    ) -> DeliveryReceipt:
        now = datetime.now(UTC).isoformat()
        with self._connect() as conn:
            inserted = conn.execute(
                # Columns named: the shared ledger (shared/stores) adds columns to this table.
                "INSERT OR IGNORE INTO deliveries (ticket_id, channel, customer_id, revision, "
                "body, delivered_at) VALUES (?, ?, ?, ?, ?, ?)",
                (ticket_id, channel, customer_id, revision, body, now),
            ).rowcount
            row = conn.execute(
                "SELECT channel, revision, delivered_at FROM deliveries WHERE ticket_id = ?",
                (ticket_id,),
            ).fetchone()
        conn.close()
        return DeliveryReceipt(
            ticket_id=ticket_id,
            channel=row[0],
            location=self._location(ticket_id),
            delivered_at=datetime.fromisoformat(row[2]),
            revision=row[1],
            already_delivered=inserted == 0,
        )

    async def deliver(
        self, ticket_id: str, channel: str, customer_id: str | None, revision: int, body: str
    ) -> DeliveryReceipt:
        return await asyncio.to_thread(
            self._deliver, ticket_id, channel, customer_id, revision, body
        )

    def _count(self, ticket_id: str | None) -> int:
        with self._connect() as conn:
            if ticket_id is None:
                (n,) = conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
            else:
                (n,) = conn.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE ticket_id = ?", (ticket_id,)
                ).fetchone()
        conn.close()
        return int(n)

    async def count(self, ticket_id: str | None = None) -> int:
        return await asyncio.to_thread(self._count, ticket_id)
