"""What the project creates in its data directory is its owner's only: the ledger holds every
answer sent and its customer id in plain text (shared/private_files.py)."""

import stat
from pathlib import Path

import pytest

from shared.encryption.keyring import create_key_file
from shared.payload_store import FileStore
from shared.stores.sqlite_ledger import SqliteLedger


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_ledger_its_folder_the_key_file_and_payloads_are_owner_only(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    ledger = SqliteLedger(data / "outbox.sqlite3")
    try:
        assert await ledger.count() == 0  # opens (creates) the file
    finally:
        await ledger.close()
    create_key_file(tmp_path / "keys" / "tickets.keys")
    await FileStore(tmp_path / "payloads").put("ab12", b"ciphertext")

    assert mode(data) == 0o700 and mode(data / "outbox.sqlite3") == 0o600
    assert mode(tmp_path / "keys") == 0o700 and mode(tmp_path / "keys" / "tickets.keys") == 0o600
    # Every level created, not only the last (Path.mkdir gives the parents the default mode).
    assert mode(tmp_path / "payloads") == mode(tmp_path / "payloads" / "ab") == 0o700


async def test_a_folder_that_exists_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    ledger = SqliteLedger(shared / "outbox.sqlite3")
    try:
        await ledger.count()
    finally:
        await ledger.close()

    assert mode(shared) == 0o750 and mode(shared / "outbox.sqlite3") == 0o600


async def test_a_ledger_an_earlier_version_left_readable_by_all_is_owner_only_once_opened(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    ledger = SqliteLedger(path)
    try:
        await ledger.count()
    finally:
        await ledger.close()
    # As an earlier version left it: the default mode, its write-ahead log beside it.
    for file in (path, Path(f"{path}-wal")):
        file.touch()
        file.chmod(0o644)

    again = SqliteLedger(path)
    try:
        assert await again.count() == 0
        # Checked while open: SQLite removes its log when the last connection closes.
        assert mode(path) == 0o600 and mode(Path(f"{path}-wal")) == 0o600
    finally:
        await again.close()


def test_a_new_key_file_is_named_on_disk_before_it_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Linked into place with its directory unsynced: a power cut right after the first
    # `make run` could leave no key file beside a database of tickets encrypted under it.
    import shared.encryption.keyring as keyring

    synced: list[tuple[Path, bool]] = []
    path = tmp_path / "keys" / "tickets.keys"
    monkeypatch.setattr(keyring, "sync_dir", lambda d: synced.append((d, path.exists())))

    create_key_file(path)

    assert synced == [(path.parent, True)]  # after the name is there
