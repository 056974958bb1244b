"""Reading a small text file the user names (a configuration file, a tokens file, an edited
answer, a key ring) without reading more than its limit: a path such as /dev/zero, a FIFO or a
file of gigabytes is refused once the limit is passed, with its size said, before memory runs
out. ``stat().st_size`` is not enough: /dev/zero and pipes report 0."""

import fcntl
import os
from pathlib import Path
from typing import BinaryIO


class TooLarge(ValueError):
    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(f"{path} is larger than {limit:,} bytes")
        self.limit = limit


def open_to_read(path: Path) -> BinaryIO:
    """The file opened for reading in binary. Opened without blocking, then read blocking: a
    FIFO nobody writes to blocked ``open`` for ever (it reads as empty now), and a pipe that is
    written to (``<(cat file)``) is read as before."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text_at_most(path: Path, limit: int) -> str:
    """The file as UTF-8 text; ``TooLarge`` past ``limit`` bytes; UnicodeDecodeError, and OSError
    as ``open`` raises it."""
    with open_to_read(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(path, limit)
    # A byte-order mark (Windows editors write one) is no text: it failed a TOML file at line 1,
    # column 1, and went to the customer at the head of an edited reply.
    return data.decode("utf-8").removeprefix("\ufeff")
