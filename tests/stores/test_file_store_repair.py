"""A payload stored again over a damaged file repairs it: the file store is content-addressed,
and skipped the write whenever a file of the same size was there, so a file changed in place
(same size, other bytes) failed every read's hash check for good. And an ownership file with a
torn line (a write a full disk cut short) stops nothing: the line is skipped, and the next
record stored is a line of its own."""

import json
from pathlib import Path

import pytest

from shared.payload_store import FileStore
from shared.stores.payloads import PayloadOwner
from shared.stores.payloads_file import FilePayloadDriver

DATA = b"an encrypted payload, say" * 100


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[: len(data) // 2], lambda data: b"\x00" * len(data)],
    ids=["cut-short", "changed-in-place"],
)
async def test_storing_a_payload_again_repairs_a_damaged_file(
    tmp_path: Path, damage: object
) -> None:
    store = FileStore(tmp_path)
    await store.put("ab12", DATA)
    path = tmp_path / "ab" / "ab12"
    path.write_bytes(damage(DATA))  # type: ignore[operator]

    await store.put("ab12", DATA)

    assert await store.get("ab12") == DATA


async def test_an_intact_file_is_not_written_again(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    await store.put("ab12", DATA)
    before = (tmp_path / "ab" / "ab12").stat().st_ino

    await store.put("ab12", DATA)

    assert (tmp_path / "ab" / "ab12").stat().st_ino == before  # a write renames a new file in


def owner(workflow_id: str) -> PayloadOwner:
    return PayloadOwner("workflow", workflow_id, "TicketWorkflow", "run-1", "default")


async def test_a_torn_ownership_line_stops_no_erasure_and_no_collection(tmp_path: Path) -> None:
    # A write the disk cut short left half a record: every later erase, for any customer, and
    # every gc-payloads raised JSONDecodeError until someone mended the file by hand.
    driver = FilePayloadDriver(tmp_path)
    await driver.put_many([("a" * 64, b"one")], owner("ticket-T-1"))
    await driver.put_many([("b" * 64, b"two")], owner("ticket-T-2"))
    torn = driver._owner_file("ticket-T-2")
    with torn.open("a") as file:
        file.write('{"sha256":"cccc","owner_id":"tick')

    assert await driver.erase_owned_by("ticket-T-1", "default") == 1
    assert {o.owner_id for o in await driver.ownership()} == {"ticket-T-2"}
    assert await driver.payloads_of("ticket-T-2") == {"b" * 64}


async def test_a_record_stored_after_a_torn_line_is_read(tmp_path: Path) -> None:
    # The next record was appended to the torn line's end, one unreadable line: its payload
    # was owned by nobody as far as garbage collection could tell.
    driver = FilePayloadDriver(tmp_path)
    await driver.put_many([("a" * 64, b"one")], owner("ticket-T-1"))
    with driver._owner_file("ticket-T-1").open("a") as file:
        file.write('{"sha256":"cccc","owner_id":"tick')

    await driver.put_many([("d" * 64, b"two")], owner("ticket-T-1"))

    assert await driver.payloads_of("ticket-T-1") == {"a" * 64, "d" * 64}


async def test_a_record_glued_to_a_torn_line_keeps_its_ownership(tmp_path: Path) -> None:
    # Before each append began a line of its own, the next record was glued to a torn one:
    # skipped whole, the glued record's payload was owned by nobody as far as garbage
    # collection could tell, and a file a running ticket needed could be deleted.
    driver = FilePayloadDriver(tmp_path)
    await driver.put_many([("a" * 64, b"one")], owner("ticket-T-1"))
    glued = '{"sha256":"cccc","owner_id":"tick' + json.dumps(
        {
            "sha256": "d" * 64,
            "owner_id": "ticket-T-1",
            "owner_kind": "workflow",
            "owner_type": "TicketWorkflow",
            "run_id": "run-1",
            "namespace": "default",
            "stored_at": "2026-12-05T00:00:00+00:00",
        }
    )
    with driver._owner_file("ticket-T-1").open("a") as file:
        file.write("\n" + glued + "\n")

    assert await driver.payloads_of("ticket-T-1") == {"a" * 64, "d" * 64}
