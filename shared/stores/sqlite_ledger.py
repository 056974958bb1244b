"""The delivery ledger on one machine: a SQLite file under the data directory (the embedded
default, no database server needed). Its connection, on a thread of its own, and the dry run's
read-only opening: ``sqlite_connection.py``; its schema and migrations: ``sqlite_schema.py``.
"""

import asyncio
import sqlite3
import time
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.stores.errors import StoreUnavailable
from shared.stores.ledger import (
    REFUSED_PREFIX,
    STRIPPED,
    UNCERTAIN_PREFIX,
    ChainErased,
    DeliveryLedger,
    LedgerEntry,
    NewDelivery,
    another_tickets,
    answered_by_the_run_replaced,
    as_address,
    noted_reason,
)
from shared.stores.sqlite_connection import LedgerFile

# What a claim adds to ``sends``: nothing for the holder's own claim again, one for a send
# begun, and one more when it takes over a claim that was never given back (released after a
# failure, cleared when marked sent): that send never reported, and may have gone out (a worker
# of schema 4 counted nothing for it). The claiming holder is the one parameter.
_SENDS_BEGUN_SQLITE = "(CASE WHEN claimed_by IS ? THEN 0 WHEN claimed_by IS NULL THEN 1 ELSE 2 END)"
# The mark of an answer handed over without learning whether it was taken, as SQL compares it.
_UNCERTAIN = (len(UNCERTAIN_PREFIX), UNCERTAIN_PREFIX)
_COLUMNS = (
    "ticket_id, channel, customer_id, revision, body, text_sha256, idempotency_key, sent_via, "
    "delivered_at, sent_at, attempts, last_error, chain, sends, refusals, customer_email"
)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return LedgerEntry(
        ticket_id=row[0],
        channel=row[1],
        customer_id=row[2],
        revision=int(row[3]),
        body=row[4],
        text_sha256=row[5],
        idempotency_key=row[6],
        sent_via=row[7],
        recorded_at=datetime.fromisoformat(row[8]),
        sent_at=datetime.fromisoformat(row[9]) if row[9] else None,
        attempts=int(row[10]),
        last_error=row[11],
        chain=row[12],
        sends=int(row[13]),
        refusals=int(row[14]),
        customer_email=row[15],
    )


def _erased(conn: sqlite3.Connection) -> None:
    """After an erasure: the write-ahead log still held the deleted rows as every earlier write
    left them (the answers, the customer id) until the last process closed the file. Copy it
    into the database (whose pages secure_delete zeroed) and truncate it, waiting up to the
    busy timeout for the other processes' reads. Should they outlast it, the log is truncated
    by the next erasure or when the last connection closes: raised, so ``erase`` says so and
    fails (it logged a warning and reported the erasure done, a review found)."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise StoreUnavailable(
            "its write-ahead log could not be cleared now (another process kept reading it); "
            "the erased rows stay in it until the next erasure or until every worker has "
            "closed the ledger"
        )


class SqliteLedger(LedgerFile, DeliveryLedger):
    def location(self, ticket_id: str) -> str:
        return f"ledger:{self.path}#{ticket_id}"

    def describe(self) -> str:
        return f"SQLite file {self.path}"

    async def fence(self, chains: Collection[str]) -> None:
        def put(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO erased_chains (chain, erased_at) VALUES (?, ?)",
                [(chain, _now()) for chain in sorted(set(chains))],
            )

        await self._atomically(put)

    async def record(self, delivery: NewDelivery) -> tuple[LedgerEntry, bool]:
        def decide(conn: sqlite3.Connection) -> tuple[LedgerEntry, bool]:
            # In the write transaction: an erasure's fence is either before (refused) or after
            # (the row is there for the erasure to delete).
            if (
                delivery.chain is not None
                and conn.execute(
                    "SELECT 1 FROM erased_chains WHERE chain = ?", (delivery.chain,)
                ).fetchone()
            ):
                raise ChainErased(delivery.ticket_id)
            decision = delivery.decision()
            inserted = conn.execute(
                f"INSERT OR IGNORE INTO deliveries ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, ?, 0, 0, ?)",
                (delivery.ticket_id, *decision, _now(), delivery.chain, delivery.address()),
            ).rowcount
            select = f"SELECT {_COLUMNS} FROM deliveries WHERE ticket_id = ?"
            row = conn.execute(select, (delivery.ticket_id,)).fetchone()
            (sending_until,) = conn.execute(
                "SELECT claimed_until FROM deliveries WHERE ticket_id = ?",
                (delivery.ticket_id,),
            ).fetchone()
            existing = _entry(row)
            sending = (
                existing.sent_at is None
                and sending_until is not None
                and sending_until > time.time()
            )
            kept = answered_by_the_run_replaced(delivery.replaces, existing)
            replace = another_tickets(delivery.chain, existing) and not kept
            if not inserted and replace and not sending:
                # Under this transaction's write lock: no other replacement in between.
                conn.execute(
                    "UPDATE deliveries SET channel = ?, customer_id = ?, revision = ?, "
                    "body = ?, text_sha256 = ?, idempotency_key = ?, sent_via = ?, "
                    "delivered_at = ?, chain = ?, sent_at = NULL, attempts = 0, "
                    "last_error = NULL, claimed_by = NULL, claimed_until = NULL, "
                    "sends = 0, refusals = 0, customer_email = ? "
                    "WHERE ticket_id = ?",
                    (
                        *decision,
                        _now(),
                        delivery.chain,
                        delivery.address(),
                        delivery.ticket_id,
                    ),
                )
                row = conn.execute(select, (delivery.ticket_id,)).fetchone()
                inserted = 1
            return _entry(row), inserted == 1

        return await self._atomically(decide)

    async def mark_sent(self, ticket_id: str, key: str | None = None) -> LedgerEntry:
        def mark(conn: sqlite3.Connection) -> LedgerEntry:
            marked = conn.execute(
                "UPDATE deliveries SET sent_at = coalesce(sent_at, ?), attempts = attempts + 1, "
                "last_error = NULL, claimed_by = NULL, claimed_until = NULL WHERE ticket_id = ? "
                "AND (? IS NULL OR idempotency_key = ?)",
                (_now(), ticket_id, key, key),
            ).rowcount
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
            if row is None or not marked:
                raise LookupError(f"the ledger holds no such delivery for ticket {ticket_id}")
            return _entry(row)

        return await self._atomically(mark)

    async def claim(
        self, ticket_id: str, holder: str, seconds: float, key: str | None = None
    ) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            now = time.time()  # one machine: every process shares this clock
            taken = conn.execute(
                "UPDATE deliveries SET claimed_by = ?, claimed_until = ?, "
                f"sends = sends + {_SENDS_BEGUN_SQLITE} WHERE ticket_id = ? "
                "AND sent_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ? "
                "OR claimed_by = ?) AND (? IS NULL OR idempotency_key = ?) "
                # Not an answer an attempt handed over without learning whether it was taken.
                "AND substr(coalesce(last_error, ''), 1, ?) <> ?",
                (*(holder, now + seconds, holder, ticket_id, now, holder, key, key), *_UNCERTAIN),
            ).rowcount
            return bool(taken)

        return await self._run(write)

    async def release(self, ticket_id: str, holder: str, *, unsent: bool = False) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL, "
                "sends = max(sends - ?, 0) WHERE ticket_id = ? AND claimed_by = ?",
                (int(unsent), ticket_id, holder),
            )

        await self._run(write)

    async def note_failure(self, ticket_id: str, error: str, key: str | None = None) -> None:
        error = noted_reason(error)

        def write(conn: sqlite3.Connection) -> None:
            refused = int(error.startswith(REFUSED_PREFIX))
            conn.execute(
                # A send's refusal is counted once: a note tried again after a write whose
                # answer was lost would count it twice, and the row could then never go by
                # another channel (refused_every_time wants sends == refusals == attempts).
                "UPDATE deliveries SET "
                "attempts = attempts + CASE WHEN ? = 1 AND refusals >= sends THEN 0 ELSE 1 END, "
                "last_error = ?, "
                "refusals = refusals + CASE WHEN ? = 1 AND refusals < sends THEN 1 ELSE 0 END "
                "WHERE ticket_id = ? AND sent_at IS NULL AND (? IS NULL OR idempotency_key = ?)",
                (refused, error, refused, ticket_id, key, key),
            )

        await self._run(write)

    async def reroute(self, ticket_id: str, key: str, sent_via: str) -> LedgerEntry | None:
        def move(conn: sqlite3.Connection) -> LedgerEntry | None:
            moved = conn.execute(
                "UPDATE deliveries SET sent_via = ?, last_error = NULL WHERE ticket_id = ? "
                "AND idempotency_key = ? AND sent_at IS NULL AND refusals >= 1 "
                "AND sends = refusals AND attempts = refusals "  # refused_every_time
                "AND substr(last_error, 1, ?) = ? AND claimed_by IS NULL",
                (sent_via, ticket_id, key, len(REFUSED_PREFIX), REFUSED_PREFIX),
            ).rowcount
            if not moved:
                return None
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
            return _entry(row) if row else None

        return await self._atomically(move)

    async def get(self, ticket_id: str) -> LedgerEntry | None:
        def read(conn: sqlite3.Connection) -> LedgerEntry | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries WHERE ticket_id = ?", (ticket_id,)
            ).fetchone()
            return _entry(row) if row else None

        return await self._run(read)

    async def entries(self) -> list[LedgerEntry]:
        def read(conn: sqlite3.Connection) -> list[LedgerEntry]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM deliveries ORDER BY delivered_at, ticket_id"
            ).fetchall()
            return [_entry(r) for r in rows]

        return await self._run(read)

    async def delete_answer(
        self, ticket_id: str, chains: Collection[str], customer_id: str | None
    ) -> bool:
        wanted = list(chains)

        def write(conn: sqlite3.Connection) -> bool:
            marks = ", ".join("?" for _ in wanted) or "NULL"
            deleted = conn.execute(
                "DELETE FROM deliveries WHERE ticket_id = ? "
                f"AND (chain IN ({marks}) OR (chain IS NULL AND customer_id IS ?))",
                (ticket_id, *wanted, customer_id),
            ).rowcount
            return deleted > 0

        return await self._run(write)

    async def delete(self, customer_id: str, *, any_case: bool = False) -> list[str]:
        def delete(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                f"DELETE FROM deliveries WHERE {_customer_is(any_case)} RETURNING ticket_id",
                _customer_params(customer_id, any_case),
            ).fetchall()
            return sorted({r[0] for r in rows})

        return await self._atomically(delete)

    async def customer_rows(self, customer_id: str, *, any_case: bool = False) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            query = f"SELECT ticket_id FROM deliveries WHERE {_customer_is(any_case)}"
            found = conn.execute(query, _customer_params(customer_id, any_case)).fetchall()
            return sorted({r[0] for r in found})

        return await self._run(read)

    async def clear_erased(self) -> None:
        await self._run(_erased)

    async def count(self, ticket_id: str | None = None) -> int:
        def read(conn: sqlite3.Connection) -> int:
            if ticket_id is None:
                (n,) = conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
            else:
                (n,) = conn.execute(
                    "SELECT COUNT(*) FROM deliveries WHERE ticket_id = ?", (ticket_id,)
                ).fetchone()
            return int(n)

        return await self._run(read)


# ``STRIPPED`` as an SQLite expression: char() of its code points.
_STRIPPED_SQL = f"char({', '.join(str(ord(c)) for c in STRIPPED)})"


def _customer_is(any_case: bool) -> str:
    """The condition on a row's customer id: trimmed as erase trims what it is given (Python's
    whitespace: ``STRIPPED``), and for an address in any case; or, for an address, on the
    address the answer is for, kept and compared casefolded (``as_address``: "Straße" and a
    non-ASCII capital match, where SQLite's lower() folds ASCII only). Its parameters:
    ``_customer_params``."""
    trimmed = f"trim(customer_id, {_STRIPPED_SQL})"
    if not any_case:
        return f"{trimmed} = ?"
    return f"(lower({trimmed}) = lower(?) OR customer_email = ?)"


async def customer_rows_read_only(path: Path, customer_id: str, *, any_case: bool) -> list[str]:
    """``SqliteLedger.customer_rows`` of the file at ``path``, opened read-only: a dry run's
    look at a ledger no worker uses any more (a stack's from before its database), which
    opening it as a ledger would migrate and switch to WAL."""

    def read() -> list[str]:
        # As a URI, quoted: a "#" or "?" in the path cut the read-only mode off, and SQLite
        # created an empty file where the path ended.
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(deliveries)")}
            if any_case and "customer_email" not in columns:
                # A ledger from before version 6 keeps no address: its customer ids only.
                condition = f"lower(trim(customer_id, {_STRIPPED_SQL})) = lower(?)"
                found = conn.execute(
                    f"SELECT ticket_id FROM deliveries WHERE {condition}", (customer_id,)
                ).fetchall()
            else:
                query = f"SELECT ticket_id FROM deliveries WHERE {_customer_is(any_case)}"
                found = conn.execute(query, _customer_params(customer_id, any_case)).fetchall()
        finally:
            conn.close()
        return sorted({r[0] for r in found})

    return await asyncio.to_thread(read)


def _customer_params(customer_id: str, any_case: bool) -> tuple[str, ...]:
    return (customer_id, as_address(customer_id)) if any_case else (customer_id,)
