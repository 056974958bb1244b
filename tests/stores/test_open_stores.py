"""A worker's stores are ready before it takes a task: without a database, the data
directory's ledger opened (and migrated) and its payload directory made at start. They were
opened at first use: from a data directory that cannot be written, every ticket ran through
its paid agent calls, then failed its delivery for hours of retries."""

from pathlib import Path

import pytest

from shared.stores.errors import StoreUnavailable
from shared.stores.factory import open_stores


async def test_a_data_directory_that_cannot_be_used_stops_the_worker_at_start() -> None:
    with pytest.raises(StoreUnavailable) as refused:
        await open_stores({"TICKETS_DATA_DIR": "/proc/no-such/data"})

    assert str(refused.value).startswith(
        "the data directory /proc/no-such/data cannot be used (TICKETS_DATA_DIR): "
    )


async def test_a_usable_data_directory_holds_the_ledger_and_payloads_once_opened(
    tmp_path: Path,
) -> None:
    stores = await open_stores({"TICKETS_DATA_DIR": str(tmp_path / "data")})
    try:
        assert (tmp_path / "data" / "outbox.sqlite3").is_file()
        assert (tmp_path / "data" / "payloads").is_dir()
    finally:
        await stores.close()


async def test_a_file_ledger_with_temporal_on_another_machine_is_warned_about(
    tmp_path: Path,
) -> None:
    """A worker of a cluster started without TICKETS_DATABASE_URL keeps claims no other worker
    sees, and two workers can send one answer twice: the worker says so at start (it said
    nothing). With Temporal on this machine a file ledger is the embedded default."""
    stores = await open_stores({"TICKETS_DATA_DIR": str(tmp_path / "data")})
    try:
        remote = stores.private_ledger_warning("temporal.internal:7233")
        assert remote is not None and "TICKETS_DATABASE_URL is not set" in remote
        assert "temporal.internal:7233" in remote and "twice" in remote
        for local in ("127.0.0.1:7233", "localhost:7233", "[::1]:7233"):
            assert stores.private_ledger_warning(local) is None
    finally:
        await stores.close()
