"""Tickets outlive workers: nothing is lost while no worker runs or when one crashes."""

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from starter.embedded import EmbeddedServer
from starter.worker_process import WorkerProcess
from tests.support.processes import environment, free_port, run_cli, submit_breach

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path_factory.mktemp("durable"), "127.0.0.1", free_port(), ui=False)
    asyncio.run(server.start())
    yield server
    asyncio.run(server.stop())


def state_of(env: dict[str, str], ticket_id: str, timeout: float = 10.0) -> str:
    """The state the visibility store shows, once it shows the ticket at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(run_cli(env, "list", "--json").stdout)
        if found := [t["state"] for t in listed if t["ticket_id"] == ticket_id]:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"{ticket_id} never appeared in the visibility store")


def test_tickets_wait_for_a_worker_and_survive_one_crashing_while_they_await_review(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    env = environment(server.address, server.data_dir)
    submitted = submit_breach(env, "D-1")
    assert submitted.code == 0, submitted.output
    assert state_of(env, "D-1") == "NEW"  # accepted durably; no worker has seen it yet
    no_worker = run_cli(env, "review", "D-1", "--approve")
    assert no_worker.code == 1
    assert no_worker.stderr.startswith("error: no worker answered on the tickets task queue")
    assert "Traceback" not in no_worker.output
    unread = run_cli(env, "status", "D-1")
    assert unread.code == 1 and unread.stderr.startswith(
        "error: no worker answered the status query for D-1: is `python -m worker` running"
    )
    assert unread.stderr.rstrip().endswith(
        "The server indexes ticket D-1 as NEW (with the agents: which step is not indexed)"
    )

    first = WorkerProcess(server.data_dir, server.address)
    asyncio.run(first.start())
    waited = json.loads(submit_breach(env, "D-1", "--wait", "--json").stdout)
    assert waited["submitted"][0]["started"] is False
    assert waited["tickets"][0]["state"] == "AWAITING_REVIEW"

    first.kill()  # the machine dies while the ticket waits for a person

    second = WorkerProcess(server.data_dir, server.address)
    asyncio.run(second.start())
    try:
        approved = run_cli(env, "review", "D-1", "--approve", "--reviewer", "sam")
        assert approved.code == 0, approved.output
        assert "ticket is now COMPLETED" in approved.stdout
    finally:
        asyncio.run(second.stop())
    with sqlite3.connect(server.data_dir / "outbox.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM deliveries WHERE ticket_id='D-1'").fetchone() == (
            1,
        )


def test_a_ticket_whose_worker_crashed_is_read_and_reviewed_through_another_at_once(
    server: EmbeddedServer,
) -> None:
    """The server first asks the crashed worker's sticky queue, for as long as the workers' sticky
    timeout (task_queue_workers.STICKY_QUEUE_TIMEOUT), then any worker: that must fit in the
    status query's own timeout, or `status` says no worker answered while another is polling.
    (The server skips a sticky queue whose poller it has not seen for 10 s; the second worker is
    up before the first dies, so the query comes well inside that.)"""
    env = environment(server.address, server.data_dir)
    first = WorkerProcess(server.data_dir, server.address)
    second = WorkerProcess(server.data_dir, server.address)
    asyncio.run(first.start())
    try:
        waited = submit_breach(env, "D-2", "--wait", "--json")
        assert json.loads(waited.stdout)["tickets"][0]["state"] == "AWAITING_REVIEW"
        asyncio.run(second.start())
    finally:
        first.kill()  # its sticky queue still holds the ticket's cached run
    try:
        asked = time.monotonic()
        read = run_cli(env, "status", "D-2", "--json")
        took = time.monotonic() - asked
        assert read.code == 0, read.output
        assert json.loads(read.stdout)["state"] == "AWAITING_REVIEW"
        # Not a speed check: the proof that the query went to the dead worker's sticky queue
        # first (the case under test) rather than straight to the live one.
        assert took >= 4.0, f"answered in {took:.1f} s: the sticky queue was not tried"
        approved = run_cli(env, "review", "D-2", "--approve", "--reviewer", "sam")
        assert approved.code == 0, approved.output
        assert "ticket is now COMPLETED" in approved.stdout
    finally:
        asyncio.run(second.stop())
