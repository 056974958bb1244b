"""An erased customer's answers leave no bytes in the SQLite ledger's files (the database and
its write-ahead log) while the workers still have the file open: before, the deleted rows
stayed readable there until the last process closed it."""

import sqlite3
from pathlib import Path

import pytest

from shared.stores.errors import StoreUnavailable
from shared.stores.ledger import NewDelivery
from shared.stores.sqlite_ledger import SqliteLedger
from tests.stores.conftest import delivery

# What the answers and the customer's id look like on disk: every one must be gone.
ANSWER = "Dear Jane Roe-Kowalski, your parcel 7Q-UNIQUE-4471 left our depot."
CUSTOMER = "C-ERASE-ME-90210"


def on_disk(path: Path, needle: str) -> list[str]:
    """The ledger's files that still hold ``needle``."""
    files = [path, path.with_name(path.name + "-wal")]
    return [f.name for f in files if f.exists() and needle.encode() in f.read_bytes()]


async def test_an_erased_customers_answers_leave_no_bytes_while_a_worker_holds_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    worker = SqliteLedger(path)  # a worker's connection, open throughout
    eraser = SqliteLedger(path)  # the erase command's
    try:
        for n in range(3):
            mine = delivery(f"T-{n}", text=f"{ANSWER} ({n})")
            await worker.record(NewDelivery(**{**mine.__dict__, "customer_id": CUSTOMER}))
            await worker.note_failure(f"T-{n}", f"the webhook refused {CUSTOMER}")
            await worker.mark_sent(f"T-{n}")
        await worker.record(delivery("T-other", text="Someone else's answer."))
        assert on_disk(path, CUSTOMER) and on_disk(path, "7Q-UNIQUE-4471")  # the test can fail

        assert await eraser.delete(CUSTOMER) == ["T-0", "T-1", "T-2"]
        await eraser.clear_erased()  # as erase does, once its deletes are done

        assert on_disk(path, CUSTOMER) == []
        assert on_disk(path, "7Q-UNIQUE-4471") == []
        assert await worker.get("T-other") is not None  # the worker reads on
        assert await worker.get("T-0") is None
    finally:
        await eraser.close()
        await worker.close()


async def test_a_log_another_process_keeps_reading_is_said_not_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The log could not be cleared (a reader outlasted the wait): a warning in the log, and
    # erase reported the erasure done while the answers stayed in the -wal file (a review,
    # 2026-12-07). Now an error, which erase reports as failed.
    monkeypatch.setattr("shared.stores.sqlite_connection.LOCK_WAIT_SECONDS", 0.2)
    path = tmp_path / "outbox.sqlite3"
    ledger = SqliteLedger(path)
    try:
        mine = delivery("T-0", text=ANSWER)
        await ledger.record(NewDelivery(**{**mine.__dict__, "customer_id": CUSTOMER}))
        assert await ledger.delete(CUSTOMER) == ["T-0"]
        reader = sqlite3.connect(path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT COUNT(*) FROM deliveries").fetchone()  # a read under way
            with pytest.raises(StoreUnavailable, match="write-ahead log could not be cleared"):
                await ledger.clear_erased()
            assert on_disk(path, "7Q-UNIQUE-4471") == ["outbox.sqlite3-wal"]
        finally:
            reader.close()
        await ledger.clear_erased()  # the reader gone, the log goes
        assert on_disk(path, "7Q-UNIQUE-4471") == []
    finally:
        await ledger.close()
