"""The delivery ledger shared by every worker machine: the ``deliveries`` table in PostgreSQL.

``INSERT ... ON CONFLICT DO NOTHING`` on the ticket id makes the decision atomic across machines:
whichever worker records first decides the answer, every later attempt reads that row.
"""

from collections.abc import Collection
from datetime import UTC
from typing import Any

from psycopg.rows import dict_row

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
from shared.stores.postgres import PostgresDatabase

_COLUMNS = (
    "ticket_id, channel, customer_id, revision, body, text_sha256, idempotency_key, sent_via, "
    "recorded_at, sent_at, attempts, last_error, chain, sends, refusals, customer_email"
)


def _entry(row: dict[str, Any]) -> LedgerEntry:
    # psycopg hands timestamptz back in the session's time zone (the server's, or PGTZ):
    # callers print these as UTC and the webhook's body carries ``decided_at``, the same bytes
    # on every attempt from every worker.
    return LedgerEntry(
        **row
        | {
            "recorded_at": row["recorded_at"].astimezone(UTC),
            "sent_at": row["sent_at"] and row["sent_at"].astimezone(UTC),
        }
    )


class PostgresLedger(DeliveryLedger):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    def location(self, ticket_id: str) -> str:
        t = self.database.target
        if t.service:
            return f"ledger:postgresql:///?service={t.service}#{ticket_id}"
        return f"ledger:postgresql://{t.host}:{t.port}/{t.database}#{ticket_id}"

    def describe(self) -> str:
        return f"table deliveries in {self.database.describe()}"

    async def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        async with self.database.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(sql.encode(), params)
            return await cursor.fetchone()

    async def fence(self, chains: Collection[str]) -> None:
        if not chains:
            return
        async with self.database.connection() as conn:
            await conn.execute(
                "INSERT INTO erased_chains (chain) SELECT unnest(%s::text[]) "
                "ON CONFLICT (chain) DO NOTHING",
                (sorted(set(chains)),),
            )

    async def _erased(self, chain: str | None) -> bool:
        if chain is None:
            return False
        found = await self._one("SELECT 1 AS erased FROM erased_chains WHERE chain = %s", (chain,))
        return found is not None

    async def record(self, delivery: NewDelivery) -> tuple[LedgerEntry, bool]:
        decision = (*delivery.decision(), delivery.chain)
        # Inserted only while the chain is not fenced, in the same statement: an erasure's
        # fence is either before it (refused) or after (the row is there for it to delete).
        inserted = await self._one(
            f"INSERT INTO deliveries (ticket_id, channel, customer_id, revision, body, "
            "text_sha256, idempotency_key, sent_via, chain, customer_email) "
            "SELECT %s::text, %s::text, %s::text, %s::integer, %s::text, %s::text, %s::text, "
            "%s::text, %s::text, %s::text "
            "WHERE NOT EXISTS (SELECT 1 FROM erased_chains WHERE chain = %s::text) "
            f"ON CONFLICT (ticket_id) DO NOTHING RETURNING {_COLUMNS}",
            (delivery.ticket_id, *decision, delivery.address(), delivery.chain),
        )
        if inserted is not None:
            return _entry(inserted), True
        if await self._erased(delivery.chain):
            raise ChainErased(delivery.ticket_id)
        existing = await self.get(delivery.ticket_id)
        if existing is None:  # only if someone deleted the row in between
            raise LookupError(f"the ledger lost the delivery of ticket {delivery.ticket_id}")
        if not another_tickets(delivery.chain, existing) or answered_by_the_run_replaced(
            delivery.replaces, existing
        ):
            return existing, False
        # Only while the row is still that other ticket's and no attempt of it is sending now
        # (one replacement wins; a send in progress is waited out by the caller), and, when it
        # is the answer of the run this one replaces, while it has not gone out
        # (answered_by_the_run_replaced, checked again under the row's lock).
        replaced = await self._one(
            "UPDATE deliveries SET channel = %s, customer_id = %s, revision = %s, body = %s, "
            "text_sha256 = %s, idempotency_key = %s, sent_via = %s, chain = %s, "
            "recorded_at = now(), sent_at = NULL, attempts = 0, last_error = NULL, "
            "claimed_by = NULL, claimed_until = NULL, sends = 0, refusals = 0, "
            "customer_email = %s "
            "WHERE ticket_id = %s AND chain = %s "
            "AND NOT EXISTS (SELECT 1 FROM erased_chains WHERE chain = %s::text) "
            "AND (sent_at IS NOT NULL OR claimed_until IS NULL OR claimed_until <= now()) "
            # answered_by_the_run_replaced: sent, uncertain, or a send begun (send_begun)
            "AND NOT (%s AND (sent_at IS NOT NULL OR sends > refusals OR attempts > refusals "
            "OR left(coalesce(last_error, ''), %s) = %s)) "
            f"RETURNING {_COLUMNS}",
            (
                *decision,
                delivery.address(),
                delivery.ticket_id,
                existing.chain,
                delivery.chain,
                existing.chain in delivery.replaces,
                len(UNCERTAIN_PREFIX),
                UNCERTAIN_PREFIX,
            ),
        )
        if replaced is not None:
            return _entry(replaced), True
        latest = await self.get(delivery.ticket_id)
        if latest is None:
            raise LookupError(f"the ledger lost the delivery of ticket {delivery.ticket_id}")
        return latest, False

    async def mark_sent(self, ticket_id: str, key: str | None = None) -> LedgerEntry:
        row = await self._one(
            "UPDATE deliveries SET sent_at = coalesce(sent_at, now()), attempts = attempts + 1, "
            "last_error = NULL, claimed_by = NULL, claimed_until = NULL "
            "WHERE ticket_id = %s AND (%s::text IS NULL OR idempotency_key = %s) "
            f"RETURNING {_COLUMNS}",
            (ticket_id, key, key),
        )
        if row is None:
            raise LookupError(f"the ledger holds no such delivery for ticket {ticket_id}")
        return _entry(row)

    async def claim(
        self, ticket_id: str, holder: str, seconds: float, key: str | None = None
    ) -> bool:
        # The database's clock for every claim: the workers' clocks need not agree.
        row = await self._one(
            "UPDATE deliveries SET claimed_by = %s, "
            "claimed_until = now() + make_interval(secs => %s), "
            # As sqlite_ledger.py's: 2 when it takes over a claim never given back.
            "sends = sends + CASE WHEN claimed_by IS NOT DISTINCT FROM %s::text THEN 0 "
            "WHEN claimed_by IS NULL THEN 1 ELSE 2 END "
            "WHERE ticket_id = %s AND sent_at IS NULL AND (claimed_until IS NULL "
            "OR claimed_until <= now() OR claimed_by = %s) "
            "AND (%s::text IS NULL OR idempotency_key = %s) "
            # Not an answer an attempt handed over without learning whether it was taken.
            "AND left(coalesce(last_error, ''), %s) <> %s RETURNING ticket_id",
            (
                *(holder, seconds, holder, ticket_id, holder, key, key),
                *(len(UNCERTAIN_PREFIX), UNCERTAIN_PREFIX),
            ),
        )
        return row is not None

    async def release(self, ticket_id: str, holder: str, *, unsent: bool = False) -> None:
        async with self.database.connection() as conn:
            await conn.execute(
                "UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL, "
                "sends = GREATEST(sends - %s, 0) WHERE ticket_id = %s AND claimed_by = %s",
                (int(unsent), ticket_id, holder),
            )

    async def note_failure(self, ticket_id: str, error: str, key: str | None = None) -> None:
        error = noted_reason(error)
        async with self.database.connection() as conn:
            refused = int(error.startswith(REFUSED_PREFIX))
            await conn.execute(
                # A send's refusal is counted once (sqlite_ledger.py says why).
                "UPDATE deliveries SET "
                "attempts = attempts + CASE WHEN %s = 1 AND refusals >= sends THEN 0 ELSE 1 END, "
                "last_error = %s, "
                "refusals = refusals + CASE WHEN %s = 1 AND refusals < sends THEN 1 ELSE 0 END "
                "WHERE ticket_id = %s AND sent_at IS NULL "
                "AND (%s::text IS NULL OR idempotency_key = %s)",
                (refused, error, refused, ticket_id, key, key),
            )

    async def reroute(self, ticket_id: str, key: str, sent_via: str) -> LedgerEntry | None:
        row = await self._one(
            "UPDATE deliveries SET sent_via = %s, last_error = NULL WHERE ticket_id = %s "
            "AND idempotency_key = %s AND sent_at IS NULL AND refusals >= 1 "
            "AND sends = refusals AND attempts = refusals "  # refused_every_time
            # A refused send gives its claim back; one never given back never reported.
            f"AND starts_with(last_error, %s) AND claimed_by IS NULL RETURNING {_COLUMNS}",
            (sent_via, ticket_id, key, REFUSED_PREFIX),
        )
        return _entry(row) if row is not None else None

    async def get(self, ticket_id: str) -> LedgerEntry | None:
        row = await self._one(
            f"SELECT {_COLUMNS} FROM deliveries WHERE ticket_id = %s", (ticket_id,)
        )
        return _entry(row) if row else None

    async def entries(self) -> list[LedgerEntry]:
        async with self.database.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                f"SELECT {_COLUMNS} FROM deliveries ORDER BY recorded_at, ticket_id".encode()
            )
            return [_entry(r) for r in await cursor.fetchall()]

    async def delete_answer(
        self, ticket_id: str, chains: Collection[str], customer_id: str | None
    ) -> bool:
        async with self.database.connection() as conn:
            cursor = await conn.execute(
                "DELETE FROM deliveries WHERE ticket_id = %s AND (chain = ANY(%s) "
                "OR (chain IS NULL AND customer_id IS NOT DISTINCT FROM %s::text)) "
                "RETURNING ticket_id",
                (ticket_id, list(chains), customer_id),
            )
            return await cursor.fetchone() is not None

    async def delete(self, customer_id: str, *, any_case: bool = False) -> list[str]:
        async with self.database.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                f"DELETE FROM deliveries WHERE {_customer_is(any_case)} RETURNING ticket_id",
                _customer_params(customer_id, any_case),
            )
            return sorted({row[0] for row in await cursor.fetchall()})

    async def customer_rows(self, customer_id: str, *, any_case: bool = False) -> list[str]:
        async with self.database.connection() as conn:
            cursor = await conn.execute(
                f"SELECT ticket_id FROM deliveries WHERE {_customer_is(any_case)}",
                _customer_params(customer_id, any_case),
            )
            return sorted({row[0] for row in await cursor.fetchall()})

    async def count(self, ticket_id: str | None = None) -> int:
        async with self.database.connection() as conn:
            if ticket_id is None:
                cursor = await conn.execute("SELECT count(*) FROM deliveries")
            else:
                cursor = await conn.execute(
                    "SELECT count(*) FROM deliveries WHERE ticket_id = %s", (ticket_id,)
                )
            row = await cursor.fetchone()
            return int(row[0]) if row else 0


# ``STRIPPED`` as a PostgreSQL string: a Unicode-escape literal of its code points.
_STRIPPED_SQL = "U&'" + "".join(f"\\{ord(c):04X}" for c in STRIPPED) + "'"


def _customer_is(any_case: bool) -> str:
    """The condition on a row's customer id: trimmed as erase trims what it is given (Python's
    whitespace: ``STRIPPED``), and for an address in any case; or, for an address, on the
    address the answer is for, kept and compared casefolded (``as_address``: "Straße" matches
    "STRASSE"). Its parameters: ``_customer_params``."""
    trimmed = f"btrim(customer_id, {_STRIPPED_SQL})"
    if not any_case:
        return f"{trimmed} = %s"
    return f"(lower({trimmed}) = lower(%s) OR customer_email = %s)"


def _customer_params(customer_id: str, any_case: bool) -> tuple[str, ...]:
    return (customer_id, as_address(customer_id)) if any_case else (customer_id,)
