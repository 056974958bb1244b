"""`.ci/system-packages`, which `make test` runs first: silent when the Debian packages the tests
use are there, and when they are not (and it may not install them) one message naming each and
the command, with exit status 1, before any test runs; `skip` warns and goes on."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.dataset import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / ".ci" / "system-packages"
MISSING = "postgresql prometheus chromium fonts-dejavu-core docker-compose"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _bare_machine(tmp_path: Path, mode: str) -> dict[str, str]:
    """A PATH with only what the script itself calls, and an empty root for the files it checks."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    return {
        "PATH": str(bin_dir),
        "SYSTEM_ROOT": str(tmp_path / "root"),
        "TICKETS_INSTALL_SYSTEM_PACKAGES": mode,
    }


def test_on_this_machine_nothing_is_missing_and_nothing_is_said() -> None:
    # CI installs them (the script itself, as root), and the suite uses every one; "no": this
    # test never installs anything.
    ran = _run({**os.environ, "TICKETS_INSTALL_SYSTEM_PACKAGES": "no"})
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")


def test_a_machine_without_them_is_told_which_and_how_and_nothing_is_installed(
    tmp_path: Path,
) -> None:
    ran = _run(_bare_machine(tmp_path, "no"))
    assert ran.returncode == 1
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"the tests need packages that are missing: {MISSING}",
        f"install them (Debian and Ubuntu: sudo apt-get install --no-install-recommends {MISSING}),"
        " then run make test again;",
        "TICKETS_INSTALL_SYSTEM_PACKAGES=skip runs the suite without them",
    ]


def test_skip_names_what_is_missing_and_lets_the_suite_run(tmp_path: Path) -> None:
    ran = _run(_bare_machine(tmp_path, "skip"))
    assert ran.returncode == 0
    assert ran.stderr == (
        f"warning: the tests that use {MISSING} will fail (TICKETS_INSTALL_SYSTEM_PACKAGES=skip)\n"
    )


@pytest.mark.parametrize("mode", ["maybe", "true"])
def test_an_unknown_mode_is_refused_by_name(tmp_path: Path, mode: str) -> None:
    ran = _run(_bare_machine(tmp_path, mode))
    assert ran.returncode == 2
    assert f"TICKETS_INSTALL_SYSTEM_PACKAGES must be yes, no or skip, not '{mode}'" in ran.stderr
