"""Payload drivers store by content hash, record the owning workflow, and refuse bytes that no
longer match their hash: files and PostgreSQL alike."""

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from shared.stores.errors import PayloadIntegrityError, PayloadMissing, PayloadTooLarge
from shared.stores.legacy_files import INVENTORY_NAME
from shared.stores.payloads import (
    IN_THREAD_BYTES,
    ContentAddressedDriver,
    Release,
    read_at_most,
)
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.stores.postgres import PostgresDatabase
from tests.support.postgres import PostgresServer
from tests.support.temporal import wait_until

OWNER = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(
        namespace="default", id="ticket-T-1", run_id="run-1", type="TicketWorkflow"
    )
)
RETRIEVE = StorageDriverRetrieveContext()


def payload(size: int, fill: bytes = b"x") -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=fill * size)


async def tamper(driver: ContentAddressedDriver, key: str) -> None:
    """Change the stored bytes behind the driver's back (disk damage, a careless operator)."""
    if isinstance(driver, FilePayloadDriver):
        path = driver.root / key[:2] / key
        path.write_bytes(payload(10, b"y").SerializeToString())
        return
    assert isinstance(driver, PostgresPayloadDriver)
    async with driver.database.connection() as conn:
        await conn.execute("UPDATE payloads SET data = %s WHERE sha256 = %s", (b"\x0a\x00", key))


async def test_payloads_round_trip_under_their_content_hash(driver: ContentAddressedDriver) -> None:
    big, other = payload(300_000), payload(200_000, b"z")
    claims = await driver.store(OWNER, [big, other])
    assert [len(c.claim_data["sha256"]) for c in claims] == [64, 64]
    assert claims[0].claim_data["bytes"] == str(len(big.SerializeToString()))
    assert await driver.retrieve(RETRIEVE, claims) == [big, other]


async def test_a_read_with_a_limit_reads_nothing_stored_larger(
    driver: ContentAddressedDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The codec server's budget per request: a reference's declared size is the caller's word
    # (one declaring 1 byte for a 100 MiB payload was read whole), the store's is checked.
    big, small = payload(300_000), payload(1_000, b"s")
    claims = await driver.store(OWNER, [big, small])
    read: list[int] = []
    real = driver.get_many

    async def counted(keys: Any) -> list[bytes]:
        read.append(len(keys))
        return await real(keys)

    monkeypatch.setattr(driver, "get_many", counted)
    with read_at_most(300_000), pytest.raises(PayloadTooLarge, match="over the 300,000"):
        await driver.retrieve(RETRIEVE, claims)
    with read_at_most(300_000), pytest.raises(PayloadTooLarge):
        await driver.retrieve(RETRIEVE, claims[:1])
    assert read == []
    with read_at_most(300_000):
        assert await driver.retrieve(RETRIEVE, claims[1:]) == [small]
    assert await driver.retrieve(RETRIEVE, claims) == [big, small]  # no limit outside it
    assert read == [1, 2]


async def test_a_payload_of_megabytes_is_serialized_and_checked_off_the_event_loop(
    driver: ContentAddressedDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The drivers run on the worker's event loop: a 127 MiB swarm input held it 269 ms to store
    # and 226 ms to read back. Over a megabyte, the hashing and parsing go to a thread.
    big, small = payload(IN_THREAD_BYTES + 1), payload(10)
    threaded: list[str] = []
    real = asyncio.to_thread

    async def counting(function: Any, *args: Any) -> Any:
        threaded.append(function.__name__)
        return await real(function, *args)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    claims = await driver.store(OWNER, [big, small])
    back = await driver.retrieve(RETRIEVE, claims)

    assert back == [big, small]
    assert [n for n in threaded if n in ("_keyed", "verified")] == ["_keyed", "verified"]


async def test_a_payload_stored_twice_is_stored_once_and_owned_by_both_workflows(
    driver: ContentAddressedDriver,
) -> None:
    child = StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id="ticket-T-1/resolution")
    )
    first = await driver.store(OWNER, [payload(5_000)])
    second = await driver.store(child, [payload(5_000)])
    assert first == second
    key = first[0].claim_data["sha256"]
    assert await driver.payloads_of("ticket-T-1") == {key}
    assert await driver.payloads_of("ticket-T-1/resolution") == {key}
    assert await driver.payloads_of("ticket-T-other") == set()


async def test_bytes_that_no_longer_match_their_hash_are_an_error_not_a_value(
    driver: ContentAddressedDriver,
) -> None:
    claims = await driver.store(OWNER, [payload(5_000)])
    await tamper(driver, claims[0].claim_data["sha256"])
    with pytest.raises(PayloadIntegrityError, match="does not match its content hash"):
        await driver.retrieve(RETRIEVE, claims)


async def test_a_reference_the_store_does_not_hold_names_the_store(
    driver: ContentAddressedDriver,
) -> None:
    claim = StorageDriverClaim(claim_data={"sha256": "ab" * 32, "bytes": "10"})
    with pytest.raises(PayloadMissing, match=f"payload {'ab' * 32} is not in"):
        await driver.retrieve(RETRIEVE, [claim])


async def test_a_reference_with_a_malformed_hash_is_refused_before_any_lookup(
    driver: ContentAddressedDriver,
) -> None:
    claim = StorageDriverClaim(claim_data={"sha256": "../../etc/passwd", "bytes": "10"})
    with pytest.raises(PayloadIntegrityError, match="invalid content hash"):
        await driver.retrieve(RETRIEVE, [claim])


async def test_erasure_deletes_what_a_ticket_and_its_children_own_and_keeps_what_others_share(
    driver: ContentAddressedDriver,
) -> None:
    def owned_by(workflow_id: str) -> StorageDriverStoreContext:
        return StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(namespace="default", id=workflow_id)
        )

    own = await driver.store(owned_by("ticket-T-1"), [payload(5_000, b"a")])
    child = await driver.store(owned_by("ticket-T-1/resolution/write"), [payload(5_000, b"b")])
    shared = await driver.store(owned_by("ticket-T-1"), [payload(5_000, b"c")])
    await driver.store(owned_by("ticket-T-2"), [payload(5_000, b"c")])  # the same bytes
    lookalike = await driver.store(owned_by("ticket-T-10"), [payload(5_000, b"d")])

    assert await driver.erase_owned_by("ticket-T-1") == 2
    for gone in (own, child):
        with pytest.raises(PayloadMissing):
            await driver.retrieve(RETRIEVE, gone)
    assert await driver.retrieve(RETRIEVE, shared) == [payload(5_000, b"c")]
    assert await driver.retrieve(RETRIEVE, lookalike) == [payload(5_000, b"d")]
    assert await driver.payloads_of("ticket-T-1") == set()
    assert await driver.payloads_of("ticket-T-1/resolution/write") == set()
    assert await driver.erase_owned_by("ticket-T-1") == 0


async def test_erasure_in_one_namespace_keeps_another_namespaces_workflow_of_the_same_id(
    driver: ContentAddressedDriver,
) -> None:
    # prod and staging share the store; both have a ticket-T-1 (ids are derived from content).
    # (Their payloads differ: encrypted with a random nonce, the same text never is the same
    # bytes. docs/payloads.md says what the PostgreSQL store does with identical bytes.)
    prod = await driver.store(stored_by("ticket-T-1", "prod"), [payload(5_000, b"p")])
    staging = await driver.store(stored_by("ticket-T-1", "staging"), [payload(5_000, b"s")])
    child = await driver.store(stored_by("ticket-T-1/resolution", "staging"), [payload(5_000)])

    assert await driver.erase_owned_by("ticket-T-1", "prod") == 1
    with pytest.raises(PayloadMissing):
        await driver.retrieve(RETRIEVE, prod)
    assert await driver.retrieve(RETRIEVE, staging) == [payload(5_000, b"s")]
    assert await driver.retrieve(RETRIEVE, child) == [payload(5_000)]
    assert await driver.erase_owned_by("ticket-T-1", "staging") == 2


def stored_by(workflow_id: str, namespace: str = "default") -> StorageDriverStoreContext:
    return StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace=namespace, id=workflow_id)
    )


async def test_the_ownership_record_says_who_stored_what_where_and_when_last(
    driver: ContentAddressedDriver,
) -> None:
    [claim] = await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])
    first = {(o.sha256, o.owner_id): o for o in await driver.ownership()}
    await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])
    await driver.store(stored_by("batch-B", namespace="other"), [payload(5_000, b"a")])

    rows = {(o.sha256, o.owner_id): o for o in await driver.ownership()}
    key = claim.claim_data["sha256"]
    assert set(rows) == {(key, "ticket-T-1"), (key, "batch-B")}
    mine = rows[(key, "ticket-T-1")]
    assert (mine.owner_kind, mine.namespace, mine.size_bytes) == (
        "workflow",
        "default",
        int(claim.claim_data["bytes"]),
    )
    assert mine.last_stored_at > first[(key, "ticket-T-1")].last_stored_at
    assert rows[(key, "batch-B")].namespace == "other"


async def test_collection_deletes_a_payload_only_when_its_last_owner_lets_go(
    driver: ContentAddressedDriver,
) -> None:
    alone = await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])
    shared = await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"b")])
    await driver.store(stored_by("ticket-T-2"), [payload(5_000, b"b")])
    later = datetime.now(UTC) + timedelta(seconds=1)
    releases = [Release(c.claim_data["sha256"], "ticket-T-1", later) for c in (*alone, *shared)]

    collected = await driver.collect(releases)

    assert (collected.owner_rows, collected.payloads) == (2, 1)
    assert collected.bytes == int(alone[0].claim_data["bytes"])
    with pytest.raises(PayloadMissing):
        await driver.retrieve(RETRIEVE, alone)
    assert await driver.retrieve(RETRIEVE, shared) == [payload(5_000, b"b")]
    assert await driver.payloads_of("ticket-T-1") == set()
    assert await driver.payloads_of("ticket-T-2") == {shared[0].claim_data["sha256"]}


async def test_a_payload_stored_again_after_the_cutoff_is_kept(
    driver: ContentAddressedDriver,
) -> None:
    claims = await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])
    cutoff = datetime.now(UTC)
    await wait_until(lambda: datetime.now(UTC) > cutoff, what="the clock to move on")
    await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])  # again, after it

    collected = await driver.collect(
        [Release(claims[0].claim_data["sha256"], "ticket-T-1", cutoff)]
    )

    assert (collected.owner_rows, collected.payloads) == (0, 0)
    assert await driver.retrieve(RETRIEVE, claims) == [payload(5_000, b"a")]


async def test_a_store_in_progress_keeps_the_payload_collection_is_deleting(
    postgres: PostgresServer,
) -> None:
    """A worker stores a payload (for another workflow) at the moment collection deletes it:
    collection waits for the store's transaction, sees the new owner and keeps the payload."""
    database = PostgresDatabase(postgres.create_database("gcrace"), pool_size=4)
    driver = PostgresPayloadDriver(database)
    try:
        claims = await driver.store(stored_by("ticket-T-1"), [payload(5_000, b"a")])
        key = claims[0].claim_data["sha256"]
        async with database.connection() as store, store.transaction():
            # What put_many does for the new owner, left uncommitted.
            await store.execute(
                "INSERT INTO payload_owners (sha256, owner_id, owner_kind) VALUES (%s, %s, %s)",
                (key, "ticket-T-2", "workflow"),
            )
            later = datetime.now(UTC) + timedelta(seconds=1)
            collecting = asyncio.create_task(driver.collect([Release(key, "ticket-T-1", later)]))

            async def collection_waits_on_the_store() -> bool:
                async with database.connection() as conn:
                    cursor = await conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    )
                    row = await cursor.fetchone()
                    return bool(row and row[0])

            await wait_until(collection_waits_on_the_store, what="collection to wait")
        collected = await collecting
        assert (collected.owner_rows, collected.payloads) == (1, 0)
        assert await driver.retrieve(RETRIEVE, claims) == [payload(5_000, b"a")]
        assert await driver.payloads_of("ticket-T-2") == {key}
    finally:
        await database.close()


async def test_stores_of_the_same_payloads_in_opposite_orders_both_succeed(
    driver: ContentAddressedDriver,
) -> None:
    # Two workflows storing the same two payloads, one in each order, at the same moment: on
    # PostgreSQL each transaction locked the row the other needed next (a deadlock, one failed).
    first, second = payload(50_000, b"a"), payload(50_000, b"b")
    rounds = 10
    results = await asyncio.gather(
        *(
            driver.store(OWNER, pair)
            for _ in range(rounds)
            for pair in ([first, second], [second, first])
        ),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []


def synced_paths(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path os.fsync is called on from now (files and directories), in order."""
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return synced


async def test_a_payload_file_and_its_owner_record_are_on_disk_when_the_store_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A history names the payload as soon as the store returns: a power cut must not leave the
    # name without the bytes, or the bytes without the record that keeps GC off them.
    driver = FilePayloadDriver(tmp_path / "payloads")
    synced = synced_paths(monkeypatch)

    [claim] = await driver.store(OWNER, [payload(1000)])

    key = claim.claim_data["sha256"]
    folder = str(tmp_path / "payloads" / key[:2])
    assert any(p.startswith(folder + "/") for p in synced)  # the bytes, before the rename
    assert folder in synced  # the rename
    assert any(p.endswith(".jsonl") for p in synced)  # the owner's record


async def test_a_payload_file_cut_short_is_written_again_by_the_next_store(tmp_path: Path) -> None:
    driver = FilePayloadDriver(tmp_path / "payloads")
    [claim] = await driver.store(OWNER, [payload(1000)])
    key = claim.claim_data["sha256"]
    (tmp_path / "payloads" / key[:2] / key).write_bytes(b"")  # what a power cut left

    await driver.store(OWNER, [payload(1000)])

    assert await driver.retrieve(RETRIEVE, [claim]) == [payload(1000)]


async def test_erasure_rewrites_an_owner_file_it_keeps_records_of_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = FilePayloadDriver(tmp_path / "payloads")
    staging = StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(
            namespace="staging", id="ticket-T-1", run_id="run-9", type="TicketWorkflow"
        )
    )
    await driver.store(OWNER, [payload(1000, b"p")])
    [kept] = await driver.store(staging, [payload(1000, b"s")])
    synced = synced_paths(monkeypatch)

    await driver.erase_owned_by("ticket-T-1", "default")

    owners = (tmp_path / "payloads" / "owners").rglob("*")
    files = [p for p in owners if p.is_file() and p.name not in (".lock", INVENTORY_NAME)]
    assert [p.suffix for p in files] == [".jsonl"]  # and no temporary file left beside it
    # Written to a temporary file, synced, then renamed over it: never rewritten in place.
    assert str(files[0].parent) in synced
    assert await driver.retrieve(RETRIEVE, [kept]) == [payload(1000, b"s")]


async def test_a_store_that_fails_to_reach_the_disk_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The temporary file holds the payload's bytes, and no owner record names it: left behind,
    # neither erasure nor garbage collection would ever delete it.
    driver = FilePayloadDriver(tmp_path / "payloads")

    def disk_error(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)
    with pytest.raises(OSError, match="Input/output error"):
        await driver.store(OWNER, [payload(1000)])

    left = [p for p in (tmp_path / "payloads").rglob("*") if p.is_file() and p.name != ".lock"]
    assert left == []
