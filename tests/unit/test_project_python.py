"""The entry points run by a Python without the project's packages (the system's, outside .venv)
say what to run instead of printing an import traceback (shared/project_python.py)."""

import subprocess
import sys

import pytest

from shared import project_python
from tests.support.processes import PROJECT_ROOT

# Runs an entry point as `python -m` would, with every site-packages directory left off the
# path: the interpreter a user gets from `python3` outside the virtual environment.
WITHOUT_PACKAGES = (
    "import runpy, sys\n"
    "sys.path = [p for p in sys.path if 'site-packages' not in p]\n"
    "for name in [n for n in sys.modules if n.split('.')[0] in ('temporalio', 'pydantic')]:\n"
    "    del sys.modules[name]\n"
    "runpy.run_module(sys.argv[1], run_name='__main__', alter_sys=True)\n"
)


@pytest.mark.parametrize("module", ["starter", "worker", "bench"])
def test_an_entry_point_run_without_the_packages_says_how_to_run_it(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_PACKAGES, module, "list"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "temporalio" in done.stderr and "missing" in done.stderr
    assert f".venv/bin/python -m {module}" in done.stderr
    assert ". .venv/bin/activate" in done.stderr


def test_the_project_python_passes_the_check() -> None:
    assert project_python.missing_packages() == []
    project_python.require_project_python("starter")  # returns: nothing to say


def test_each_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(project_python, "REQUIRED", ("pydantic", "no_such_package_x1", "nor_y2"))
    assert project_python.missing_packages() == ["no_such_package_x1", "nor_y2"]
    with pytest.raises(SystemExit) as ended:
        project_python.require_project_python("worker")
    assert ended.value.code == 2
