"""`.ci/system-packages`, which `make test` runs first: silent when the Debian packages the tests
use are there, and when they are not (and it may not install them) one message naming each and
the command, with exit status 1, before any test runs."""

import os
import shutil
import subprocess
from pathlib import Path

from bench.dataset import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / ".ci" / "system-packages"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT)], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_on_this_machine_nothing_is_missing_and_nothing_is_said() -> None:
    # CI installs them (the script itself, as root), and the suite below uses every one.
    ran = _run(dict(os.environ))
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "", "")


def test_a_machine_without_them_is_told_which_and_how_and_nothing_is_installed(
    tmp_path: Path,
) -> None:
    # A PATH with only what the script itself calls, and an empty root for the files it checks.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "id"):
        found = shutil.which(tool)
        assert found is not None, tool
        (bin_dir / tool).symlink_to(found)
    env = {
        "PATH": str(bin_dir),
        "SYSTEM_ROOT": str(tmp_path / "root"),
        "TICKETS_INSTALL_SYSTEM_PACKAGES": "no",
    }
    ran = _run(env)
    missing = "postgresql prometheus chromium fonts-dejavu-core docker-compose"
    assert ran.returncode == 1
    assert ran.stdout == ""
    assert ran.stderr.splitlines() == [
        f"the tests need Debian packages that are missing: {missing}",
        "install them, then run make test again:",
        f"  sudo apt-get install --no-install-recommends {missing}",
    ]
