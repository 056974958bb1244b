"""How far a long command has got, on stderr every few seconds while it works through many
tickets, when stderr is a terminal (a script's output stays as it was): ``submit`` starting a
large file (a file of 100,000 against a remote server was minutes of silence, a review found),
``redrive --yes`` working through its plan (up to 1,000 tickets, one after another)."""

import asyncio
import sys
from typing import Final, TextIO

from shared.background import stop_background

# Work this large says how far it has got.
PROGRESS_FROM: Final = 200
PROGRESS_EVERY_SECONDS: Final = 2.0


class Progress:
    """``<done> N of M ticket(s) ...`` while the block runs; ``one_done`` counts one."""

    def __init__(self, total: int, done_word: str, stream: TextIO | None = None) -> None:
        self.total, self.done, self.done_word = total, 0, done_word
        self._stream = stream if stream is not None else sys.stderr
        self._task: asyncio.Task[None] | None = None

    def one_done(self) -> None:
        self.done += 1

    def line(self) -> str:
        return f"{self.done_word} {self.done:,} of {self.total:,} ticket(s) ..."

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_SECONDS)
            print(self.line(), file=self._stream, flush=True)

    async def __aenter__(self) -> "Progress":
        if self.total >= PROGRESS_FROM and self._stream.isatty():
            self._task = asyncio.create_task(self._report())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            await stop_background(self._task)
