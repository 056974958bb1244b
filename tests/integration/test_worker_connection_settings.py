"""A Temporal connection setting the worker cannot use stops it at once with one line and the
configuration error's exit code (2), before the provider checks and the database: it ended in
a 20-line traceback and exit 1, which a supervisor restarts as a crash."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import PROJECT_ROOT, environment, free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        (
            {"TEMPORAL_ADDRESS": "127.0.0.1:99999"},
            "the Temporal address '127.0.0.1:99999' names no port",
        ),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/client.pem"}, "/nonexistent/client.pem"),
    ],
)
def test_a_bad_connection_setting_is_one_line_and_exit_2(
    tmp_path: Path, setting: dict[str, str], said: str
) -> None:
    env = environment(f"127.0.0.1:{free_port()}", tmp_path)
    env["TICKETS_PROVIDER"] = "offline"
    env.update(setting)
    result = subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("worker: configuration error: ") and said in line
    assert "Traceback" not in result.stderr
