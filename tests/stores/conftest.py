"""Both backends of each store, for tests that must hold for either."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.delivery import idempotency_key, text_sha256
from shared.stores.ledger import DeliveryLedger, NewDelivery
from shared.stores.payloads import ContentAddressedDriver
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from shared.stores.sqlite_ledger import SqliteLedger
from tests.support.postgres import PostgresServer


@pytest.fixture
async def database(postgres: PostgresServer) -> AsyncIterator[PostgresDatabase]:
    """A fresh database of its own on the session's PostgreSQL, connected and migrated."""
    db = PostgresDatabase(postgres.create_database("stores"), pool_size=4)
    await db.ready()
    yield db
    await db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def ledger(
    backend: str, tmp_path: Path, postgres: PostgresServer
) -> AsyncIterator[DeliveryLedger]:
    if backend == "sqlite":
        yield SqliteLedger(tmp_path / "outbox.sqlite3")
        return
    database = PostgresDatabase(postgres.create_database("ledger"), pool_size=4)
    yield PostgresLedger(database)
    await database.close()


def delivery(
    ticket_id: str = "T-1", revision: int = 1, text: str = "Hello.", chain: str | None = None
) -> NewDelivery:
    digest = text_sha256(text)
    return NewDelivery(
        ticket_id=ticket_id,
        channel="email",
        customer_id="C-1",
        revision=revision,
        body=text,
        text_sha256=digest,
        idempotency_key=idempotency_key(ticket_id, digest, chain),
        sent_via="webhook",
        chain=chain,
    )


@pytest.fixture
async def driver(
    backend: str, tmp_path: Path, postgres: PostgresServer
) -> AsyncIterator[ContentAddressedDriver]:
    """A payload store on either backend."""
    if backend == "sqlite":  # the embedded default keeps payloads as files
        yield FilePayloadDriver(tmp_path / "payloads")
        return
    database = PostgresDatabase(postgres.create_database("payloads"), pool_size=4)
    yield PostgresPayloadDriver(database)
    await database.close()
