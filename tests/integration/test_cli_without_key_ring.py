"""A process without the workers' key ring (run from another directory, no
TICKETS_ENCRYPTION_KEYS) does not send customer text to a server whose tickets are encrypted:
there the ring exists and the process is missing it, and a ticket sent readable would sit in
plain text among the encrypted ones (still in the server's free pages after `erase`)."""

import asyncio
import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from shared import names
from shared import operations as ops
from shared.data_converter import data_converter
from tests.integration.conftest import Stack
from tests.support.processes import PROJECT_ROOT, free_port, run_cli
from tests.support.tickets import make_ticket

pytestmark = pytest.mark.integration


def encrypted_ticket_on(stack: Stack) -> None:
    """A ticket submitted with the stack's ring: the server holds an encrypted one."""
    encrypted = run_cli(stack.env, "submit", "--subject", "Encrypted", "--body", "Under the ring.")
    assert encrypted.code == 0, encrypted.output


def test_submit_without_the_key_ring_refuses_a_server_of_encrypted_tickets(
    stack: Stack, tmp_path: Path
) -> None:
    encrypted_ticket_on(stack)
    elsewhere = stack.env | {"TICKETS_DATA_DIR": str(tmp_path / "not-the-data-dir")}

    sent = run_cli(elsewhere, "submit", "--id", "PLAIN-1", "--subject", "Readable?", "--body", "x")

    assert sent.code == 1, sent.output
    assert sent.stderr.startswith("error: this server's tickets are encrypted (ticket ")
    assert "has no key ring, so what it sends would be stored readable" in sent.stderr
    looked = run_cli(stack.env, "status", "PLAIN-1")
    assert looked.code == 1 and "no ticket" in looked.stderr, looked.output


def test_serve_without_the_key_ring_refuses_a_server_of_encrypted_tickets(
    stack: Stack, tmp_path: Path
) -> None:
    # Its intake would have stored tickets readable beside the workers' encrypted ones.
    encrypted_ticket_on(stack)
    file = tmp_path / "tokens.toml"
    created = run_cli(stack.env, "token", "create", "lead", "--append", str(file))
    assert created.code == 0, created.output
    elsewhere = stack.env | {
        "TICKETS_API_TOKENS_FILE": str(file),
        "TICKETS_DATA_DIR": str(tmp_path / "not-the-data-dir"),
    }

    result = run_cli(elsewhere, "serve", "--port", str(free_port()), timeout=30)

    assert result.code == 1, result.output
    assert result.stderr.startswith("error: this server's tickets are encrypted (ticket ")
    assert "Traceback" not in result.stderr


async def test_a_worker_without_the_key_ring_refuses_a_server_of_encrypted_tickets(
    stack: Stack, tmp_path: Path
) -> None:
    """It started, warned "payload encryption OFF", and failed every task of every running
    ticket."""
    # A running ticket under the stack's ring, on a queue nobody polls (it stays running).
    client = await Client.connect(
        stack.server.address, data_converter=data_converter(env=stack.env)
    )
    ticket = make_ticket(ticket_id=f"RUNNING-{uuid.uuid4().hex[:8]}")
    await ops.start_ticket(client, ticket, task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    elsewhere = stack.env | {"TICKETS_DATA_DIR": str(tmp_path / "not-the-data-dir")}

    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "worker"],
            env=elsewhere,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        await client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id)).terminate()

    assert result.returncode == 2, result.stdout + result.stderr
    assert "worker: this server's tickets are encrypted (ticket " in result.stderr
    assert "polling" not in result.stdout and "Traceback" not in result.stderr


async def test_a_worker_with_another_key_ring_says_it_cannot_read_the_running_tickets(
    stack: Stack, tmp_path: Path
) -> None:
    """A data directory's own development ring, found because the cluster's was not given:
    the worker started silently and failed every task of every running ticket. It now says so
    as it starts (not refused: `make run` goes on to report such tickets as unreadable)."""
    client = await Client.connect(
        stack.server.address, data_converter=data_converter(env=stack.env)
    )
    ticket = make_ticket(ticket_id=f"RUNNING-{uuid.uuid4().hex[:8]}")
    await ops.start_ticket(client, ticket, task_queue=f"nobody-{uuid.uuid4().hex[:8]}")
    other_ring = json.dumps(
        {"current": "dev", "keys": {"dev": base64.b64encode(b"\x07" * 32).decode()}}
    )
    elsewhere = stack.env | {
        "TICKETS_DATA_DIR": str(tmp_path / "not-the-data-dir"),
        "TICKETS_ENCRYPTION_KEYS": other_ring,
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        env=elsewhere,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    said: list[str] = []

    async def warned() -> None:
        assert worker.stderr is not None
        while line := (await worker.stderr.readline()).decode():
            said.append(line)
            if "worker: warning: running ticket" in line:
                return

    try:
        await asyncio.wait_for(warned(), timeout=60)
    finally:
        worker.terminate()
        await worker.wait()
        await client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id)).terminate()

    # (The ticket named may be another of the stack's running ones: each is under its ring.)
    assert "is encrypted with a key this worker's ring does not hold" in said[-1]
