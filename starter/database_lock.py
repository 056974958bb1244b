"""One embedded Temporal server per database file. Two `temporal server start-dev` processes on
one SQLite file (a second `run` given another TEMPORAL_ADDRESS, a second checkout's data folder
copied) each took the other's shards ("Shard is owned by ... but not by ..." in the first one's
log) while both answered. The server process holds an exclusive lock on ``<db>.lock`` for as
long as it runs: it inherits the descriptor that took it, so a server left running
(``--keep-running``, a client killed) keeps it, and a server that exits frees it."""

import fcntl
import os
from pathlib import Path


class DatabaseInUse(Exception):
    """Another server holds the database; the message says where, as that server wrote it."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def lock_database(db_path: Path) -> int:
    """A descriptor holding the database's lock, to hand to the server process (``pass_fds``)
    and close here. Raises DatabaseInUse when a running server holds it."""
    fd = os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise DatabaseInUse(holder) from None
    return fd


def name_holder(fd: int, holder: str) -> None:
    """Say in the lock file who holds it (read by the next one refused)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
