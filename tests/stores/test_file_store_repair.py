"""A payload stored again over a damaged file repairs it: the file store is content-addressed,
and skipped the write whenever a file of the same size was there, so a file changed in place
(same size, other bytes) failed every read's hash check for good."""

from pathlib import Path

import pytest

from shared.payload_store import FileStore

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
