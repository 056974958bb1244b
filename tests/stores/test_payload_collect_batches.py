"""Garbage collection on PostgreSQL collects in transactions of a bounded number of releases:
a large backlog in one transaction (the first run after months, a replayer's copies) was three
statements under the per-statement timeout, the last deleting every payload's TOAST chunks with
every doomed row locked; cancelled by the timeout, it deleted nothing, every run."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

import shared.stores.payloads_postgres as payloads_postgres
from shared.stores.payloads import Release
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.stores.postgres import PostgresDatabase
from tests.support.postgres import PostgresServer

OWNER = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(
        namespace="default", id="ticket-T-1", run_id="run-1", type="TicketWorkflow"
    )
)


async def test_a_backlog_is_collected_in_bounded_transactions(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = PostgresDatabase(postgres.create_database("collect"), pool_size=2)
    driver = PostgresPayloadDriver(database)
    opened: list[int] = []
    real = database.connection

    @asynccontextmanager
    async def counted(*args: Any) -> AsyncIterator[Any]:
        opened.append(1)
        async with real(*args) as conn:
            yield conn

    try:
        payloads = [
            Payload(metadata={"encoding": b"json/plain"}, data=bytes([65 + n]) * 5_000)
            for n in range(5)
        ]
        claims = await driver.store(OWNER, payloads)
        later = datetime.now(UTC) + timedelta(seconds=1)
        releases = [Release(c.claim_data["sha256"], "ticket-T-1", later) for c in claims]
        monkeypatch.setattr(payloads_postgres, "COLLECT_BATCH", 2, raising=False)
        monkeypatch.setattr(database, "connection", counted)

        collected = await driver.collect(releases)

        assert (collected.owner_rows, collected.payloads) == (5, 5)
        assert collected.bytes == sum(int(c.claim_data["bytes"]) for c in claims)
        assert len(opened) == 3  # 2 + 2 + 1, each its own transaction
        assert await driver.payloads_of("ticket-T-1") == set()
    finally:
        await database.close()
