"""The worker writes the bytecode cache of the workflow modules (the sandbox imports them again
for every workflow), also where PYTHONDONTWRITEBYTECODE is set, and only when it is missing or
stale."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from shared.bytecode import WORKFLOW_PACKAGE, compile_modules, is_fresh


def test_a_missing_cache_is_written_and_then_left_alone(tmp_path: Path) -> None:
    source = tmp_path / "flow.py"
    source.write_text("VALUE = 1\n")
    assert not is_fresh(source)

    written = compile_modules([source])

    assert written == [Path(importlib.util.cache_from_source(str(source)))]
    assert is_fresh(source)
    assert compile_modules([source]) == []  # fresh: nothing to do


def test_a_changed_source_makes_its_cache_stale_and_it_is_written_again(tmp_path: Path) -> None:
    source = tmp_path / "flow.py"
    source.write_text("VALUE = 1\n")
    compile_modules([source])
    source.write_text("VALUE = 22\n")  # another size; the loader would compile the source again
    os.utime(source, (1_700_000_000, 1_700_000_000))
    assert not is_fresh(source)
    assert len(compile_modules([source])) == 1 and is_fresh(source)


def test_a_source_that_does_not_compile_is_skipped_and_the_rest_are_written(
    tmp_path: Path,
) -> None:
    broken, good = tmp_path / "broken.py", tmp_path / "good.py"
    broken.write_text("def (:\n")
    good.write_text("VALUE = 1\n")
    assert compile_modules([broken, good]) == [Path(importlib.util.cache_from_source(str(good)))]


def test_python_reads_the_cache_where_it_may_not_write_one(tmp_path: Path) -> None:
    """The premise: with PYTHONDONTWRITEBYTECODE set, an import still uses a fresh .pyc (a
    module whose cache says something else than its source shows which one ran)."""
    source = tmp_path / "flow.py"
    source.write_text("VALUE = 'from the cache'\n")
    compile_modules([source])
    stat = source.stat()
    source.write_text("VALUE = 'from source!!!'\n")  # same size and modification time
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert is_fresh(source)
    ran = subprocess.run(
        [sys.executable, "-c", "import flow; print(flow.VALUE)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "from the cache"


def test_every_workflow_module_has_a_fresh_cache_once_compiled() -> None:
    # tests/conftest.py compiled them at the start of the run, as the worker does at its start.
    modules = sorted(WORKFLOW_PACKAGE.glob("*.py"))
    assert any(m.name == "ticket.py" for m in modules)
    assert all(is_fresh(m) for m in modules), [m.name for m in modules if not is_fresh(m)]
