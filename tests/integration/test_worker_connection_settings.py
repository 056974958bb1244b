"""A Temporal connection setting the worker cannot use stops it at once with one line and the
configuration error's exit code (2), before the provider checks and the database: it ended in
a 20-line traceback and exit 1, which a supervisor restarts as a crash."""

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.processes import worker_run_to_its_end

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        (
            {"TEMPORAL_ADDRESS": "127.0.0.1:99999"},
            "the Temporal address '127.0.0.1:99999' names no port",
        ),
        ({"TEMPORAL_TLS_CLIENT_CERT_PATH": "/nonexistent/client.pem"}, "/nonexistent/client.pem"),
        # Read after the stores and the connection, these two hid behind "cannot reach
        # Temporal" (exit 1) when it was down, and came without "configuration error".
        (
            {"TICKETS_SHUTDOWN_GRACE_SECONDS": "-1", "TEMPORAL_ADDRESS": "127.0.0.1:1"},
            "TICKETS_SHUTDOWN_GRACE_SECONDS must be between 0 and 3600, got -1",
        ),
        (
            {"TICKETS_HEALTH_ADDRESS": "nope", "TEMPORAL_ADDRESS": "127.0.0.1:1"},
            "TICKETS_HEALTH_ADDRESS must be host:port, got 'nope'",
        ),
    ],
)
def test_a_bad_connection_setting_is_one_line_and_exit_2(
    tmp_path: Path, setting: dict[str, str], said: str
) -> None:
    result = worker_run_to_its_end(tmp_path, **setting)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("worker: configuration error: ") and said in line
    assert "Traceback" not in result.stderr


def test_a_namespace_the_server_lacks_is_one_line_and_exit_2(
    tmp_path: Path, dev_env: WorkflowEnvironment
) -> None:
    # The server answers; the namespace is a typo. Before, the SDK's own check failed the
    # workers' start with a traceback.
    address = dev_env.client.service_client.config.target_host
    result = worker_run_to_its_end(
        tmp_path, TEMPORAL_ADDRESS=address, TEMPORAL_NAMESPACE="tikets-typo"
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line == (
        f"worker: configuration error: the Temporal server at {address} has no namespace "
        "'tikets-typo': set TEMPORAL_NAMESPACE to one it has, or create it (docs/deploy.md)"
    )


async def test_make_run_with_a_namespace_its_server_lacks_says_the_embedded_one_has_default(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starter.embedded import server_answers
    from starter.errors import CliError

    address = dev_env.client.service_client.config.target_host
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "tikets-typo")
    with pytest.raises(CliError, match="embedded server has only 'default'; unset TEMPORAL_NAME"):
        await server_answers(address)
    monkeypatch.delenv("TEMPORAL_NAMESPACE")
    assert await server_answers(address)
