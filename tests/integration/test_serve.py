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
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
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


def test_the_first_request_to_serve_is_traced_from_the_callers_trace_context(
    stack: Stack, tmp_path: Path
) -> None:
    """The API set its tracer provider on the first request that needed Temporal, and the web
    framework decides at a request's start whether to trace it: the first ticket's trace began
    at StartWorkflow, cut off from its caller's."""
    file = tmp_path / "tokens.toml"
    created = run_cli(
        stack.env, "token", "create", "intake", "--role", "submit", "--append", str(file), "--json"
    )
    headers = {"Authorization": f"Bearer {json.loads(created.stdout)['token']}"}
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    headers["traceparent"] = f"00-{trace_id}-b7ad6b7169203331-01"
    port = free_port()
    with OtlpReceiver() as receiver:
        env = stack.env | {
            "TICKETS_API_TOKENS_FILE": str(file),
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_SERVICE_NAME": "ticket-api",
        }
        process = start_cli(env, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        try:
            # /healthz answers without Temporal: the ticket is the first request that needs it.
            poll(lambda: httpx.get(f"{base}/healthz").status_code == 200, 30, "the API")
            ticket = {"id": "IT-TRACE-1", "subject": "Invoice copy", "body": "Where is it?"}
            submitted = httpx.post(f"{base}/tickets", headers=headers, json=ticket)

            def in_trace() -> list[ReceivedSpan]:
                # The request's own span ends after the response, and its batch can come after
                # StartWorkflow's (the test failed once with StartWorkflow's batch alone).
                found = [s for s in receiver.received() if s.trace_id == trace_id]
                started = any(s.name.startswith("StartWorkflow") for s in found)
                served = any(s.attributes.get("http.request.method") == "POST" for s in found)
                return found if started and served else []

            spans = poll(in_trace, 30, "the ticket's spans")
        finally:
            kill_group(process)

    assert submitted.status_code == 202, submitted.text
    served = [s for s in spans if s.attributes.get("http.request.method") == "POST"]
    assert served and all(s.service == "ticket-api" for s in served), spans
    assert [s.parent_id for s in served] == ["b7ad6b7169203331"]  # the caller's span
    (start,) = [s for s in spans if s.name.startswith("StartWorkflow")]
    by_id = {s.span_id: s for s in spans}
    above = start
    while above.parent_id in by_id and above not in served:
        above = by_id[above.parent_id]
    assert above in served, "the workflow's start is not under the request's span"
