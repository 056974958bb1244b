"""Payloads in PostgreSQL, shared by every worker machine (tables ``payloads`` and
``payload_owners``, see ``migrations``)."""

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from shared.stores.payloads import (
    POSTGRES_DRIVER_NAME,
    REPLAYER_NAMESPACE,
    Collected,
    ContentAddressedDriver,
    Ownership,
    PayloadOwner,
    Release,
    missing,
)
from shared.stores.postgres import PAYLOAD_POOL_WAIT_SECONDS, PostgresDatabase

DRIVER_NAME: Final = POSTGRES_DRIVER_NAME
# Ownership rows turned into Python objects between two turns of the event loop (gc-payloads).
OWNERSHIP_BATCH: Final = 10_000
# Releases collected in one transaction (gc-payloads): a bounded batch of work per statement.
COLLECT_BATCH: Final = 1_000


class PostgresPayloadDriver(ContentAddressedDriver):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    def name(self) -> str:
        return DRIVER_NAME

    def describe(self) -> str:
        return f"table payloads in {self.database.describe()}"

    async def put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None:
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn, conn.transaction():
            # In one order, whatever the caller's: two stores of the same payloads in opposite
            # orders each locked a row the other wanted next, and PostgreSQL failed one of them
            # as a deadlock (a workflow task failed, and was retried a second later).
            for key, data in sorted(dict(items).items()):
                await conn.execute(
                    "INSERT INTO payloads (sha256, data, size_bytes) VALUES (%s, %s, %s) "
                    "ON CONFLICT (sha256) DO NOTHING",
                    (key, data, len(data)),
                )
                # Stored again by the same owner: only the time moves (garbage collection's
                # grace period counts from the last store).
                await conn.execute(
                    "INSERT INTO payload_owners (sha256, owner_id, owner_kind, owner_type, "
                    "run_id, namespace) VALUES (%s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (sha256, owner_id) DO UPDATE SET last_stored_at = now()",
                    (key, owner.id, owner.kind, owner.type, owner.run_id, owner.namespace),
                )

    async def sizes(self, keys: Sequence[str]) -> dict[str, int]:
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn:
            cursor = await conn.execute(
                "SELECT sha256, size_bytes FROM payloads WHERE sha256 = ANY(%s)",
                (list(set(keys)),),
            )
            return {key: int(size) for key, size in await cursor.fetchall()}

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn:
            cursor = await conn.execute(
                "SELECT sha256, data FROM payloads WHERE sha256 = ANY(%s)", (list(set(keys)),)
            )
            found = {key: bytes(data) for key, data in await cursor.fetchall()}
        for key in keys:
            if key not in found:
                raise missing(
                    key,
                    self.describe(),
                    "was it deleted, or is this process pointed at another database "
                    "(TICKETS_DATABASE_URL) than the one that wrote it?",
                )
        return [found[key] for key in keys]

    async def erase_owned_by(self, workflow_id: str, namespace: str | None = None) -> int:
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn, conn.transaction():
            cursor = await conn.execute(
                "DELETE FROM payload_owners WHERE (owner_id = %s OR starts_with(owner_id, %s)) "
                "AND (%s::text IS NULL OR namespace IS NULL OR namespace = %s) RETURNING sha256",
                (workflow_id, f"{workflow_id}/", namespace, namespace),
            )
            keys = sorted({row[0] for row in await cursor.fetchall()})
            # Locked first, as in collect(): a store of the same bytes by another workflow,
            # racing with this, then either keeps the payload or fails and is retried.
            await conn.execute(
                "SELECT 1 FROM payloads WHERE sha256 = ANY(%s) ORDER BY sha256 FOR UPDATE", (keys,)
            )
            # A separate statement: it must see the owner rows the one above removed.
            cursor = await conn.execute(
                "DELETE FROM payloads p WHERE p.sha256 = ANY(%s) AND NOT EXISTS "
                "(SELECT 1 FROM payload_owners o WHERE o.sha256 = p.sha256)",
                (keys,),
            )
            return cursor.rowcount

    async def payloads_of(self, owner_id: str) -> set[str]:
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn:
            cursor = await conn.execute(
                "SELECT sha256 FROM payload_owners WHERE owner_id = %s", (owner_id,)
            )
            return {row[0] for row in await cursor.fetchall()}

    async def ownership(self) -> list[Ownership]:
        """Built OWNERSHIP_BATCH rows at a time, the event loop free between batches: the
        scheduled collection runs this on a worker, among its workflows and agent calls."""
        rows: list[Ownership] = []
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn:
            cursor = await conn.execute(
                "SELECT o.sha256, o.owner_id, o.owner_kind, o.namespace, o.last_stored_at, "
                "p.size_bytes FROM payload_owners o JOIN payloads p ON p.sha256 = o.sha256"
            )
            while batch := await cursor.fetchmany(OWNERSHIP_BATCH):
                rows.extend(Ownership(*row) for row in batch)
                await asyncio.sleep(0)
        return rows

    async def clock(self) -> datetime:
        """The database's: it writes ``last_stored_at`` (``now()``)."""
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn:
            row = await (await conn.execute("SELECT now()")).fetchone()
        assert row is not None
        return row[0]  # type: ignore[no-any-return]

    async def collect(self, releases: Sequence[Release]) -> Collected:
        """In transactions of COLLECT_BATCH releases each: all of a large backlog in one (the
        first run after months, a replayer's copies) was three statements under the
        per-statement timeout, the last deleting every payload's TOAST chunks, holding every
        doomed row locked meanwhile; cancelled by the timeout, it deleted nothing, every run."""
        total = Collected(0, 0, 0)
        for start in range(0, len(releases), COLLECT_BATCH):
            done = await self._collect(releases[start : start + COLLECT_BATCH])
            total = Collected(
                total.owner_rows + done.owner_rows,
                total.payloads + done.payloads,
                total.bytes + done.bytes,
            )
        return total

    async def _collect(self, releases: Sequence[Release]) -> Collected:
        if not releases:
            return Collected(0, 0, 0)
        async with self.database.connection(PAYLOAD_POOL_WAIT_SECONDS) as conn, conn.transaction():
            cursor = await conn.execute(
                "DELETE FROM payload_owners o USING unnest(%s::text[], %s::text[], "
                "%s::timestamptz[], %s::text[]) AS r(sha256, owner_id, stored_before, namespace) "
                "WHERE o.sha256 = r.sha256 AND o.owner_id = r.owner_id "
                "AND o.last_stored_at < r.stored_before "
                # The release's namespace only (Release.covers): a replayer's only its own.
                "AND (CASE WHEN r.namespace = %s THEN o.namespace IS NOT DISTINCT FROM r.namespace "
                "ELSE r.namespace IS NULL OR o.namespace IS NULL OR o.namespace = r.namespace END) "
                "RETURNING o.sha256",
                (
                    [r.sha256 for r in releases],
                    [r.owner_id for r in releases],
                    [r.stored_before for r in releases],
                    [r.namespace for r in releases],
                    REPLAYER_NAMESPACE,
                ),
            )
            released = await cursor.fetchall()
            keys = sorted({row[0] for row in released})
            # Lock the payload rows before looking for owners: a worker storing one of them now
            # holds a key-share lock on it (the foreign key of its new owner row), so this waits
            # for its commit and then sees the new owner; a worker that comes after waits for
            # this transaction and then fails its foreign key check, and Temporal retries it,
            # storing the payload afresh. Either way nothing a history needs is deleted.
            await conn.execute(
                "SELECT 1 FROM payloads WHERE sha256 = ANY(%s) ORDER BY sha256 FOR UPDATE", (keys,)
            )
            cursor = await conn.execute(
                "DELETE FROM payloads p WHERE p.sha256 = ANY(%s) AND NOT EXISTS "
                "(SELECT 1 FROM payload_owners o WHERE o.sha256 = p.sha256) RETURNING size_bytes",
                (keys,),
            )
            deleted = await cursor.fetchall()
        return Collected(len(released), len(deleted), sum(row[0] for row in deleted))
