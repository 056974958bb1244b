"""`python -m starter serve` and `token create` as an operator runs them: a real API process
against the real dev server and worker."""

import json
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import Stack
from tests.support.processes import free_port, kill_group, run_cli, start_cli

pytestmark = pytest.mark.integration


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy (a condition, not a fixed wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_serve_without_tokens_refuses_to_start_with_one_sentence(stack: Stack) -> None:
    result = run_cli(stack.env, "serve", "--port", str(free_port()), timeout=30)
    assert result.code == 1
    assert result.stderr.startswith("error: no API tokens: set TICKETS_API_TOKENS_FILE")
    assert "Traceback" not in result.stderr


def test_serve_on_a_port_in_use_says_so_in_one_sentence_and_not_that_it_serves(
    stack: Stack, tmp_path: Path
) -> None:
    """It printed "API on http://..." first, then uvicorn's log line, and exited 3 (which
    README gives to invalid input lines)."""
    file = tmp_path / "tokens.toml"
    run_cli(stack.env, "token", "create", "lead", "--append", str(file))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = stack.env | {"TICKETS_API_TOKENS_FILE": str(file)}
        result = run_cli(env, "serve", "--port", str(port), timeout=30)
    assert result.code == 1, result.output
    assert result.stderr.strip() == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use: another process "
        "listens there (give --port or TICKETS_API_PORT)"
    )


def test_serve_takes_a_ticket_over_http_through_the_pipeline_and_stops_on_sigterm(
    stack: Stack, tmp_path: Path
) -> None:
    file = tmp_path / "tokens.toml"
    created = run_cli(
        stack.env, "token", "create", "lead", "--role", "admin", "--append", str(file), "--json"
    )
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['token']}"}
    port = free_port()
    env = stack.env | {"TICKETS_API_TOKENS_FILE": str(file)}
    process = start_cli(env, "serve", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        ready = poll(
            lambda: httpx.get(f"{base}/readyz").status_code == 200, 30, "the API to be ready"
        )
        submitted = httpx.post(
            f"{base}/tickets",
            headers=headers,
            json={"id": "IT-API-1", "subject": "Invoice copy", "body": "Where is my invoice?"},
        )

        def completed() -> dict[str, Any] | None:
            body = httpx.get(f"{base}/tickets/IT-API-1", headers=headers).json()
            return body if body.get("status", {}).get("state") == "COMPLETED" else None

        done = poll(completed, 60, "IT-API-1 to complete")
        process.send_signal(signal.SIGTERM)
        process.wait(15)
    finally:
        kill_group(process)
    stderr = process.stderr.read() if process.stderr else ""

    assert ready and submitted.status_code == 202
    assert done["message"]["body"] == "Where is my invoice?"
    assert f"API on http://127.0.0.1:{port}" in stderr
    # uvicorn shuts down gracefully, then ends the process by the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in stderr
