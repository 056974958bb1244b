"""One SQLite file's connection on a thread of its own, for the delivery ledger (``SqliteLedger``).

SQLite is blocking I/O: every call runs on the file's own thread, so the worker's event loop keeps
serving, over one connection kept open on it. Opening a connection per call cost a WAL check and,
on closing the last connection to the file, a checkpoint and the WAL file's deletion: a delivery's
two calls (record, mark sent) took 1.4 ms of CPU and 1.8-2.1 ms of wall time that way, 0.6 and
0.9 ms over one connection (300 deliveries, 10 at a time, both side by side in one run). A
connection that breaks is closed and opened again on the next call; one that only waited too long
for another process's lock is kept. The cost: this process's reads queue behind its own writes
(SQLite serialises the writes anyway), so a write waiting for another process's lock delays them.
``close`` closes the connection and stops the thread (``Stores.close`` calls it). The schema
and its migrations: ``sqlite_schema.py``; a file opened with ``migrates=False`` (a dry run
reading the workers' file) changes no schema: one behind this code is an error.
"""

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from shared.private_files import PRIVATE_FILE_MODE, owner_only, private_dir
from shared.stores.errors import StoreUnavailable
from shared.stores.sqlite_schema import (
    LOCK_WAIT_SECONDS,
    SCHEMA_VERSION,
    WAL_FILES,
    migrate,
    use_wal,
)

T = TypeVar("T")


def _atomically(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn`` in one write transaction: an update and the read of the row it left must not let
    another process's write in between (a ticket of the same id recorded right after this one
    was marked sent, its row then read back as this one's)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite ends it itself after a full disk or an I/O error
            conn.execute("ROLLBACK")
        raise
    return result


def _waited_for_lock(err: sqlite3.OperationalError) -> bool:
    """Another process held the file longer than the busy timeout: the connection is fine."""
    message = str(err).lower()
    return "locked" in message or "busy" in message


class LedgerFile:
    """The ledger's SQLite file: one connection, used on one thread (module docstring)."""

    def __init__(self, path: Path, *, migrates: bool = True) -> None:
        self.path = path
        self._migrates = migrates
        self._migrated = False
        self._conn: sqlite3.Connection | None = None  # used on the ledger thread only
        self._thread: ThreadPoolExecutor | None = None  # started by the first call

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open() if self._migrates else self._open_read_only()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        # Owner-only: the ledger holds every answer sent and its customer id in plain text
        # (SQLite gives its -wal and -shm files the database file's mode).
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
            os.close(os.open(self.path, flags, PRIVATE_FILE_MODE))
        except FileExistsError:
            # One an earlier version created readable by all: owner-only from now on.
            for file in (self.path, *(Path(f"{self.path}{end}") for end in WAL_FILES)):
                owner_only(file)
        conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_SECONDS, isolation_level=None)
        try:
            use_wal(conn)
            # What is deleted (an erased customer's answers) is overwritten with zeros, not
            # left in the file's free space (this connection's writes; see clear_erased).
            conn.execute("PRAGMA secure_delete = ON")
            if not self._migrated:
                migrate(conn)
                self._migrated = True
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """A dry run's connection to the workers' ledger: read-only (no migration, no switch to
        WAL, no change of the files' modes), and none is made where there is no ledger."""
        if not self.path.is_file():
            raise StoreUnavailable(
                f"no delivery ledger at {self.path}: run where the workers' data directory "
                "is (TICKETS_DATA_DIR), or give their TICKETS_DATABASE_URL"
            )
        # As a URI, quoted (customer_rows_read_only): a "#" or "?" in the path would cut the
        # read-only mode off.
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT_SECONDS, isolation_level=None)
        try:
            self._check_version(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_version(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version < SCHEMA_VERSION:
            raise StoreUnavailable(
                f"the delivery ledger {self.path} is at version {version} and this code needs "
                f"{SCHEMA_VERSION}: a worker of this version brings it up to date when it starts "
                "(docs/stores.md)"
            )

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _executor(self) -> ThreadPoolExecutor:
        if self._thread is None:
            name = f"sqlite-ledger-{self.path.name}"
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        return self._thread

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return fn(self._connection())
            except sqlite3.IntegrityError:
                raise
            except sqlite3.OperationalError as err:
                if not _waited_for_lock(err):
                    self._drop()
                raise
            except sqlite3.Error:
                self._drop()  # a broken connection is not reused
                raise

        return await asyncio.get_running_loop().run_in_executor(self._executor(), call)

    async def _atomically(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` in one write transaction on the ledger's thread (``_atomically``)."""
        return await self._run(lambda conn: _atomically(conn, fn))

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(thread, self._drop)
        thread.shutdown(wait=True)
