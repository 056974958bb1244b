"""The file payload store's owners lock: a store waits a bounded time for an erasure or a
garbage collection, which wait for stores as long as it takes (shared/stores/payloads_file.py)."""

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stores.errors import StoreBusy
from shared.stores.payloads_file import FilePayloadDriver
from tests.stores.test_payload_drivers import OWNER, payload


@contextlib.contextmanager
def lock_held(
    tmp_path: Path, mode: int, for_seconds: float | None = None
) -> Iterator[threading.Event]:
    """The file store's owners lock, held from another open file (flock sees another holder, as
    another process would be), for ``for_seconds`` or until the block ends; the event is set
    as it is let go (a waiter that returns before that did not wait for it)."""
    lock = tmp_path / "payloads" / "owners" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, mode)
    released = threading.Event()

    def let_go() -> None:
        released.set()  # before: a waiter woken by the unlock must find it set
        fcntl.flock(holder, fcntl.LOCK_UN)

    timer = threading.Timer(for_seconds or 0, let_go)
    if for_seconds is not None:
        timer.start()
    try:
        yield released
    finally:
        timer.cancel()
        os.close(holder)


async def test_a_store_waits_out_a_short_collection_and_gives_up_on_a_long_one(
    tmp_path: Path,
) -> None:
    # A collection or an erasure holds the lock for its pass: a store waits (it blocked in the
    # kernel for ever before), but past its limit it fails with the reason, under the workflow
    # task's 10 s timeout (past which the task timed out with no reason in its history).
    driver = FilePayloadDriver(tmp_path / "payloads", store_lock_timeout=0.3)
    with lock_held(tmp_path, fcntl.LOCK_EX, for_seconds=0.1) as released:
        [claim] = await driver.store(OWNER, [payload(10)])
        assert released.is_set()  # it waited for the collection to let go
    assert await driver.get_many([claim.claim_data["sha256"]])

    with lock_held(tmp_path, fcntl.LOCK_EX):
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="held by an erasure or a garbage collection"):
            await driver.store(OWNER, [payload(20)])
        assert time.monotonic() - started >= 0.3


async def test_stores_do_not_keep_each_other_out_and_a_collection_waits_for_them(
    tmp_path: Path,
) -> None:
    driver = FilePayloadDriver(tmp_path / "payloads", store_lock_timeout=0.05)
    with lock_held(tmp_path, fcntl.LOCK_SH):  # another store, as long as it likes
        await driver.store(OWNER, [payload(10)])

    with lock_held(tmp_path, fcntl.LOCK_SH, for_seconds=0.1) as released:
        await driver.collect([])  # blocks until the store lets go: no time limit of its own
        assert released.is_set()
