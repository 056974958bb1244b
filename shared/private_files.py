"""Owner-only modes for what the project writes to its data directory: the key file, the
delivery ledger (every answer sent and its customer id, in plain text), stored payloads and the
embedded server's database. A directory this project creates is its owner's only; one that
exists keeps the mode its owner gave it; a file of ours that an earlier version wrote with the
default mode is made owner-only when it is next opened (``owner_only``)."""

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Final

PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600


def private_dir(path: Path) -> None:
    """``path`` as a directory, each level this call creates owner-only (``Path.mkdir`` gives
    the parents it creates the default mode); levels that exist keep theirs."""
    missing = []
    level = path
    while not level.exists():
        missing.append(level)
        if level.parent == level:
            break
        level = level.parent
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)


def durable_write(path: Path, data: bytes) -> None:
    """``data`` as the file ``path``, on disk before and after it is named: written to a
    temporary file beside it and synced, renamed over ``path``, then the directory synced.
    Without the first sync a power cut could leave ``path`` named but empty; without the
    second, not named at all. A failure on the way removes the temporary file (it may hold a
    payload's bytes, which nothing else would ever delete) and raises."""
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    """The directory's entries on disk (a file just created, renamed or appended to in it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def owner_only(path: Path) -> None:
    """Take group and other permissions off ``path`` when it exists, belongs to this user and
    has any (a file an earlier version created with the default mode); otherwise leave it."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_mode & 0o077 and status.st_uid == os.getuid():
        os.chmod(path, stat.S_IMODE(status.st_mode) & ~0o077)
