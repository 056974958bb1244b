"""Both backends of each store, for tests that must hold for either."""

from collections.abc import AsyncIterator

import pytest

from shared.stores.postgres import PostgresDatabase
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
