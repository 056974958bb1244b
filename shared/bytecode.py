"""Bytecode for the modules the workflow sandbox imports again for every workflow it starts.

Temporal's sandbox runs each workflow in a fresh copy of the module that defines it (modules
imported under ``imports_passed_through`` are shared). Importing reads the module's cached
bytecode when there is a valid ``.pyc``; without one it compiles the source, for every new
workflow. Where ``PYTHONDONTWRITEBYTECODE`` is set (common in containers and CI) Python never
writes that cache, so each ticket compiled ``workflows/ticket.py`` again: about a fifth of the
worker's CPU in ``bench ticket_cost`` (profiled with py-spy; docs/performance.md).

``compile_modules`` writes the cache for the workflow modules once, at worker start, whatever
that variable says (Python still reads a ``.pyc`` when it may not write one). A source tree the
worker may not write to (an installed package is compiled by pip already) is left as it is.
"""

import importlib.util
import py_compile
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Final

WORKFLOW_PACKAGE: Final = Path(__file__).resolve().parent.parent / "workflows"


def _cache_of(source: Path) -> Path:
    return Path(importlib.util.cache_from_source(str(source)))


def is_fresh(source: Path) -> bool:
    """True when the bytecode cache of ``source`` is one this interpreter would use as it is: the
    same magic number, and the source's modification time and size in its header."""
    try:
        with _cache_of(source).open("rb") as cached:
            header = cached.read(16)
        stat = source.stat()
    except OSError:
        return False
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    flags, mtime, size = struct.unpack("<III", header[4:16])
    return (
        flags == 0
        and mtime == int(stat.st_mtime) & 0xFFFFFFFF
        and size == stat.st_size & 0xFFFFFFFF
    )


def compile_modules(sources: Iterable[Path]) -> list[Path]:
    """Write the bytecode cache of each source whose cache is missing or stale; the caches
    written. A source that cannot be compiled or a cache that cannot be written is skipped (the
    import then compiles as before, and reports a syntax error itself)."""
    written = []
    for source in sources:
        if is_fresh(source):
            continue
        try:
            cached = py_compile.compile(
                str(source),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
        except (OSError, py_compile.PyCompileError):
            continue
        written.append(Path(cached))
    return written


def compile_workflow_modules() -> list[Path]:
    """``compile_modules`` for every module of the ``workflows`` package."""
    return compile_modules(sorted(WORKFLOW_PACKAGE.glob("*.py")))
