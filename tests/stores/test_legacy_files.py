"""The earlier claim-check codec's files survive the file driver's erasure and collection, even
when a new workflow stored the same bytes (shared/stores/legacy_files.py)."""

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.common.v1 import Payload

from shared.data_converter import LEGACY_ENCODING, data_converter
from shared.payload_store import FileStore
from shared.stores.legacy_files import inventory_path
from shared.stores.payloads import PayloadOwner, Release
from shared.stores.payloads_file import FilePayloadDriver

NEW_TICKET = PayloadOwner("workflow", "ticket-new", "TicketWorkflow", "run-1", "default")


async def old_codec_file(root: Path, text: str) -> tuple[str, bytes, Payload]:
    """A payload as the old codec left it (its file, written an hour ago) and its reference."""
    original = (await data_converter(env={"TICKETS_DATA_DIR": str(root.parent)}).encode([text]))[0]
    data = original.SerializeToString()
    key = hashlib.sha256(data).hexdigest()
    await FileStore(root).put(key, data)
    an_hour_ago = time.time() - 3600
    os.utime(root / key[:2] / key, (an_hour_ago, an_hour_ago))
    reference = Payload(
        metadata={"encoding": LEGACY_ENCODING, "claim-check-key": key.encode()},
        data=f"{len(data)} bytes in the payload store".encode(),
    )
    return key, data, reference


async def test_erasing_a_new_ticket_that_stored_an_old_files_bytes_keeps_the_file(
    tmp_path: Path,
) -> None:
    root = tmp_path / "payloads"
    key, data, reference = await old_codec_file(root, "an old ticket's long text")
    driver = FilePayloadDriver(root)
    await driver.put_many([(key, data)], NEW_TICKET)  # the same text again, unencrypted

    assert await driver.erase_owned_by("ticket-new") == 0

    assert (root / key[:2] / key).exists()
    assert await driver.payloads_of("ticket-new") == set()  # its ownership is gone
    converter = data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)})
    assert await converter.decode([reference], [str]) == ["an old ticket's long text"]


async def test_collecting_a_new_ticket_that_stored_an_old_files_bytes_keeps_the_file(
    tmp_path: Path,
) -> None:
    root = tmp_path / "payloads"
    key, data, _ = await old_codec_file(root, "an old ticket's long text")
    unowned, _, _ = await old_codec_file(root, "another old ticket, never stored again")
    driver = FilePayloadDriver(root)
    await driver.put_many([(key, data)], NEW_TICKET)

    later = datetime.now(UTC) + timedelta(seconds=5)
    collected = await driver.collect([Release(key, "ticket-new", later)])

    assert (collected.owner_rows, collected.payloads) == (1, 0)
    assert (root / key[:2] / key).exists() and (root / unowned[:2] / unowned).exists()
    assert inventory_path(root).read_text().split() == sorted([key, unowned])


async def test_files_the_driver_wrote_are_still_deleted_before_and_after_the_inventory(
    tmp_path: Path,
) -> None:
    root = tmp_path / "payloads"
    await old_codec_file(root, "an old ticket's long text")
    driver = FilePayloadDriver(root)
    first, second = b"a new ticket's payload", b"a later ticket's payload"
    first_key = hashlib.sha256(first).hexdigest()
    second_key = hashlib.sha256(second).hexdigest()
    await driver.put_many([(first_key, first)], NEW_TICKET)

    assert await driver.erase_owned_by("ticket-new") == 1  # takes the inventory, then erases
    assert inventory_path(root).exists()
    await driver.put_many([(second_key, second)], NEW_TICKET)
    assert await driver.erase_owned_by("ticket-new") == 1

    assert not (root / first_key[:2] / first_key).exists()
    assert not (root / second_key[:2] / second_key).exists()


async def test_a_file_whose_first_owner_an_earlier_collection_released_is_not_counted_old(
    tmp_path: Path,
) -> None:
    """A wrote P, an earlier version's collection removed A's record (no inventory then), B
    stored P again: P is older than every record left, and B's erasure must still delete it."""
    root = tmp_path / "payloads"
    driver = FilePayloadDriver(root)
    data = b"the same text, sent by two tickets"
    key = hashlib.sha256(data).hexdigest()
    first = PayloadOwner("workflow", "ticket-a", "TicketWorkflow", "run-a", "default")
    await driver.put_many([(key, data)], first)
    earlier = time.time() - 600  # A's store, ten minutes ago (and the lock with it)
    for path in (root / key[:2] / key, root / "owners" / ".lock"):
        os.utime(path, (earlier, earlier))
    for owner_file in (root / "owners").rglob("*.jsonl"):
        owner_file.unlink()  # as a collection from before the inventory left it
    await driver.put_many([(key, data)], NEW_TICKET)

    assert await driver.erase_owned_by("ticket-new") == 1
    assert not (root / key[:2] / key).exists()
    assert inventory_path(root).read_text() == ""
