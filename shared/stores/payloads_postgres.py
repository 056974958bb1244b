"""Payloads in PostgreSQL, shared by every worker machine (tables ``payloads`` and
``payload_owners``, see ``migrations``)."""

from collections.abc import Sequence
from typing import Final

from shared.stores.payloads import ContentAddressedDriver, PayloadOwner, missing
from shared.stores.postgres import PostgresDatabase

DRIVER_NAME: Final = "postgres"


class PostgresPayloadDriver(ContentAddressedDriver):
    def __init__(self, database: PostgresDatabase) -> None:
        self.database = database

    def name(self) -> str:
        return DRIVER_NAME

    def describe(self) -> str:
        return f"table payloads in {self.database.describe()}"

    async def put_many(self, items: Sequence[tuple[str, bytes]], owner: PayloadOwner) -> None:
        async with self.database.connection() as conn, conn.transaction():
            for key, data in items:
                await conn.execute(
                    "INSERT INTO payloads (sha256, data, size_bytes) VALUES (%s, %s, %s) "
                    "ON CONFLICT (sha256) DO NOTHING",
                    (key, data, len(data)),
                )
                await conn.execute(
                    "INSERT INTO payload_owners (sha256, owner_id, owner_kind, owner_type, "
                    "run_id) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (key, owner.id, owner.kind, owner.type, owner.run_id),
                )

    async def get_many(self, keys: Sequence[str]) -> list[bytes]:
        async with self.database.connection() as conn:
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

    async def erase_owned_by(self, workflow_id: str) -> int:
        async with self.database.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "DELETE FROM payload_owners WHERE owner_id = %s OR starts_with(owner_id, %s) "
                "RETURNING sha256",
                (workflow_id, f"{workflow_id}/"),
            )
            keys = list({row[0] for row in await cursor.fetchall()})
            # A separate statement: it must see the owner rows the one above removed.
            cursor = await conn.execute(
                "DELETE FROM payloads p WHERE p.sha256 = ANY(%s) AND NOT EXISTS "
                "(SELECT 1 FROM payload_owners o WHERE o.sha256 = p.sha256)",
                (keys,),
            )
            return cursor.rowcount

    async def payloads_of(self, owner_id: str) -> set[str]:
        async with self.database.connection() as conn:
            cursor = await conn.execute(
                "SELECT sha256 FROM payload_owners WHERE owner_id = %s", (owner_id,)
            )
            return {row[0] for row in await cursor.fetchall()}
