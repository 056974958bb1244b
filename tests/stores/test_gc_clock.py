"""Garbage collection's grace period is counted on the store's clock, which wrote the
ownership's ``last_stored_at``: a `gc-payloads` run on a host whose clock ran ahead of the
database's released payloads a workflow task had just stored (that workflow then failed on a
missing payload)."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from shared import payload_gc
from shared.payload_gc import REPLAYER_NAMESPACE, plan_collection
from shared.stores.payloads import PayloadOwner, content_key
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.stores.postgres import PostgresDatabase
from tests.support.postgres import PostgresServer


class HostClockAheadFake(datetime):
    """This host's clock, an hour ahead of the database's."""

    @classmethod
    def now(cls, tz: Any = None) -> "HostClockAheadFake":
        ahead = datetime.now(UTC) + timedelta(hours=1)
        return cls.fromtimestamp(ahead.timestamp(), tz)


async def test_a_copy_stored_just_now_is_kept_whatever_this_hosts_clock_says(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # raising=False: the code that counts on the store's clock no longer reads this one.
    monkeypatch.setattr(payload_gc, "datetime", HostClockAheadFake, raising=False)
    db = PostgresDatabase(postgres.create_database("gcclock"))
    driver = PostgresPayloadDriver(db)
    data = b"a status answer a replay stored"
    owner = PayloadOwner("workflow", "ticket-T-1", "TicketWorkflow", "run-1", REPLAYER_NAMESPACE)
    try:
        await driver.put_many([(content_key(data), data)], owner)
        client: Any = SimpleNamespace(namespace="default")  # replay copies need no server
        report, releases = await plan_collection(client, driver, timedelta(minutes=1))
        stored = (await driver.ownership())[0].last_stored_at
        store_now = await driver.clock()
    finally:
        await db.close()

    assert releases == [] and report.released_replay_copies == 0
    assert abs(store_now - stored) < timedelta(minutes=1)
