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
