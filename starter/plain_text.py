"""The CLI's console: customer text and errors printed as text. No Rich markup (a subject such as
"Hello [/] there" is text, not a closing tag that fails the command), no emoji codes, and
control characters shown escaped (a ticket's text must not move the cursor, clear the screen or
set a terminal's title). Styles come from ``line``'s parts, never from the text."""

import os
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

# Every C0 and C1 control character but tab and newline, shown escaped: a ticket's text must not
# move the cursor, clear the screen or set a terminal's title when it is printed. The
# bidirectional overrides and isolates too: they reorder what follows on the line.
_CONTROLS = {
    c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))
} | {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def printable(text: str) -> str:
    return text.translate(_CONTROLS)


class PlainTextConsole(Console):
    """A console that prints strings as they are: no markup (a subject such as "Hello [/] there"
    is text, not a closing tag that fails the command), no emoji codes, control characters
    escaped. Styles come from ``line``'s parts, never from the text."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(printable(text), **kwargs)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        # Captured output (a log file, a pipe) keeps each line of text whole, for grep and log
        # viewers (a banner cut mid-sentence at the width); tables keep the width.
        if not self.is_terminal and all(isinstance(o, str | Text) for o in objects):
            kwargs.setdefault("soft_wrap", True)
        super().print(*objects, **kwargs)


DEFAULT_COLUMNS = 140


def _columns() -> int:
    """COLUMNS when it is a positive number; 140 otherwise (an empty or odd value made every
    command with redirected output end in "unexpected ValueError", its own output unseen)."""
    try:
        columns = int(os.environ.get("COLUMNS", DEFAULT_COLUMNS))
    except ValueError:
        return DEFAULT_COLUMNS
    return columns if columns > 0 else DEFAULT_COLUMNS


def console(stderr: bool = False) -> Console:
    # Wide enough for the tables when output is captured (CI logs, pipes), the terminal's own
    # width otherwise.
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else _columns()
    return PlainTextConsole(
        file=stream, width=width, highlight=False, soft_wrap=False, markup=False, emoji=False
    )


def line(*parts: str | tuple[str, str]) -> Text:
    """One line of output from plain parts and ``(text, style)`` parts, e.g.
    ``line(("error", "red"), f" {e}")``: the text of each is printed as it is."""
    return Text.assemble(
        *((printable(p[0]), p[1]) if isinstance(p, tuple) else printable(p) for p in parts)
    )
