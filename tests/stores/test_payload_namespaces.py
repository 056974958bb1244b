"""Collection and erasure release a payload's ownership in one namespace: a replayer's copy of
the same bytes (unencrypted payloads, no key ring), labelled ``ReplayNamespace`` and released at
once, took the live workflow's record with it on the file store, and its payload was deleted
while the workflow's history still referred to it. Files and PostgreSQL alike."""

import json
from datetime import UTC, datetime, timedelta

from shared.payload_gc import REPLAYER_NAMESPACE, GcReport, _count_doomed
from shared.stores.payloads import ContentAddressedDriver, Ownership, Release
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.payloads_postgres import PostgresPayloadDriver
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


async def test_a_replayer_s_copy_leaves_a_live_record_from_before_namespaces_were_kept(
    driver: ContentAddressedDriver,
) -> None:
    # A record with no namespace is any namespace's, but not a replayer's copy: releasing the
    # copy took it too.
    live = await driver.store(stored_by("ticket-T-1", namespace=""), [payload(5_000, b"c")])
    key = live[0].claim_data["sha256"]
    await unlabel(driver, key)
    replayer = stored_by("ticket-T-1", namespace=REPLAYER_NAMESPACE)
    await driver.store(replayer, [payload(5_000, b"c")])
    later = datetime.now(UTC) + timedelta(seconds=1)

    collected = await driver.collect([Release(key, "ticket-T-1", later, REPLAYER_NAMESPACE)])

    assert collected.payloads == 0
    assert await driver.retrieve(RETRIEVE, live) == [payload(5_000, b"c")]


async def unlabel(driver: ContentAddressedDriver, key: str) -> None:
    """Make the ownership of ``key`` look as it was recorded before namespaces were kept."""
    if isinstance(driver, FilePayloadDriver):
        for path in (driver.root / "owners").rglob("*.jsonl"):
            records = [json.loads(line) for line in path.read_text().splitlines() if line]
            for record in records:
                if record["sha256"] == key:
                    record.pop("namespace", None)
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return
    assert isinstance(driver, PostgresPayloadDriver)
    async with driver.database.connection() as conn:
        await conn.execute("UPDATE payload_owners SET namespace = NULL WHERE sha256 = %s", (key,))


def test_the_dry_run_counts_no_payload_a_live_record_keeps() -> None:
    # It said the payload would go, where the collection kept it.
    live = Ownership("a" * 64, "ticket-T-1", "workflow", "default", datetime.now(UTC), 100)
    copy = Ownership("a" * 64, "ticket-T-1", "workflow", REPLAYER_NAMESPACE, datetime.now(UTC), 100)
    report = GcReport(store="test", namespace="default", grace_seconds=0.0)
    release = Release(copy.sha256, copy.owner_id, datetime.now(UTC), REPLAYER_NAMESPACE)

    _count_doomed([live, copy], [release], report)

    assert (report.payloads_to_delete, report.bytes_to_delete) == (0, 0)
