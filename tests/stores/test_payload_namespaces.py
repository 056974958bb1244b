"""Collection and erasure release a payload's ownership in one namespace: a replayer's copy of
the same bytes (unencrypted payloads, no key ring), labelled ``ReplayNamespace`` and released at
once, took the live workflow's record with it on the file store, and its payload was deleted
while the workflow's history still referred to it. Files and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta

from shared.payload_gc import REPLAYER_NAMESPACE
from shared.stores.payloads import ContentAddressedDriver, Release
from tests.stores.test_payload_drivers import RETRIEVE, payload, stored_by


async def test_releasing_a_replayer_s_copy_keeps_the_live_owner_s_record_and_payload(
    driver: ContentAddressedDriver,
) -> None:
    live = await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])
    replayer = stored_by("ticket-T-1", namespace=REPLAYER_NAMESPACE)
    await driver.store(replayer, [payload(5_000, b"a")])
    key = live[0].claim_data["sha256"]
    later = datetime.now(UTC) + timedelta(seconds=1)

    collected = await driver.collect([Release(key, "ticket-T-1", later, REPLAYER_NAMESPACE)])
    left = [(o.owner_id, o.namespace) for o in await driver.ownership() if o.sha256 == key]

    assert collected.payloads == 0
    assert ("ticket-T-1", "default") in left
    assert await driver.retrieve(RETRIEVE, live) == [payload(5_000, b"a")]


async def test_another_namespace_s_owner_of_the_same_id_keeps_its_payload(
    driver: ContentAddressedDriver,
) -> None:
    mine = await driver.store(stored_by("batch-B", namespace="one"), [payload(5_000, b"b")])
    await driver.store(stored_by("batch-B", namespace="two"), [payload(5_000, b"b")])
    key = mine[0].claim_data["sha256"]
    later = datetime.now(UTC) + timedelta(seconds=1)

    collected = await driver.collect([Release(key, "batch-B", later, "two")])

    assert collected.payloads == 0
    assert await driver.retrieve(RETRIEVE, mine) == [payload(5_000, b"b")]
