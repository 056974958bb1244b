"""The PostgreSQL pool after the database went away (docs/stores.md: "after a database restart
the first callers get fresh connections instead of errors"), each on a private server it stops:

- after a restart, a quiet process whose idle connections are all dead: the first caller had
  the pool try them one by one with growing waits between, and failed after its whole wait;
- after an outage of some seconds: the pool's one reconnecting task waited 1, 2, 4, 8, 16 s
  between tries, so it came back long after the database did, every call failing meanwhile.
"""

import asyncio
import time
from collections.abc import Iterator

import pytest

from shared.stores.postgres import PostgresDatabase
from shared.stores.postgres_ledger import PostgresLedger
from tests.support.postgres import PostgresServer, running_postgres

# Each test stops its server: a private one, not the session's.
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


async def test_after_a_restart_a_quiet_process_s_next_callers_get_fresh_connections(
    private_postgres: PostgresServer,
) -> None:
    db = PostgresDatabase(private_postgres.create_database("restart"), pool_size=10)
    ledger = PostgresLedger(db)
    try:
        await db.ready()

        async def hold() -> None:
            async with db.connection() as conn:
                await conn.execute("SELECT pg_sleep(0.3)")

        await asyncio.gather(*(hold() for _ in range(10)))  # ten idle connections, warm
        await asyncio.to_thread(private_postgres.restart)  # every one of them cut

        took = []
        for _ in range(3):  # one caller at a time, as a quiet worker's
            started = time.monotonic()
            await ledger.count()
            took.append(time.monotonic() - started)
    finally:
        await db.close()

    assert max(took) < 5.0, took


async def test_after_an_outage_the_pool_answers_soon_after_the_database_is_back(
    private_postgres: PostgresServer,
) -> None:
    db = PostgresDatabase(private_postgres.create_database("outage"), pool_size=10)
    ledger = PostgresLedger(db)
    down_for = 20.0  # the outage (the scenario, not a wait for anything)
    try:
        await db.ready()
        await ledger.count()
        await asyncio.to_thread(private_postgres.stop, "immediate")
        back = asyncio.get_running_loop().create_future()

        async def start_again() -> None:
            await asyncio.sleep(down_for)
            await asyncio.to_thread(private_postgres.start)
            back.set_result(time.monotonic())

        restarting = asyncio.create_task(start_again())
        failed = 0
        while True:  # a caller every second, as a busy worker's
            try:
                await ledger.count()
                break
            except Exception:
                failed += 1
                await asyncio.sleep(1.0)
        answered = time.monotonic()
        await restarting
    finally:
        await db.close()

    assert failed > 0  # it was down
    assert answered - back.result() < 5.0, answered - back.result()
