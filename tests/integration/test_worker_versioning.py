"""Worker Versioning on the real dev server: a deployment that turns it on, then rolls out a new
build, moves the tickets waiting for a person to the build an operator made current, and every
ticket is answered once (shared/worker_versioning.py, docs/deploy.md)."""

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Iterator

import pytest
from temporalio.client import Client

from starter.embedded import EmbeddedServer, temporal_cli
from starter.worker_process import WorkerProcess
from tests.support.processes import environment, free_port, run_cli, submit_breach

pytestmark = pytest.mark.integration

DEPLOYMENT = "ticket-agents"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(
        tmp_path_factory.mktemp("versioned"), "127.0.0.1", free_port(), ui=False
    )
    asyncio.run(server.start())
    yield server
    asyncio.run(server.stop())


def build(server: EmbeddedServer, build_id: str | None) -> WorkerProcess:
    worker = WorkerProcess(server.data_dir, server.address)
    if build_id is not None:
        worker.set_env("TICKETS_WORKER_DEPLOYMENT", DEPLOYMENT)
        worker.set_env("TICKETS_WORKER_BUILD_ID", build_id)
    asyncio.run(worker.start())
    return worker


def make_current(server: EmbeddedServer, build_id: str, timeout: float = 30.0) -> None:
    """What the operator runs (docs/deploy.md). The server takes it once the build's workers
    have polled, which they begin to just after they say so: asked again until it does."""
    command = [
        temporal_cli(),
        "worker",
        "deployment",
        "set-current-version",
        "--address",
        server.address,
        "--deployment-name",
        DEPLOYMENT,
        "--build-id",
        build_id,
        "--yes",
    ]
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"set-current-version {build_id} failed: {done.stderr}")
        time.sleep(0.5)


def builds_of(server: EmbeddedServer, ticket_id: str) -> list[str]:
    """The build that completed each of the ticket's workflow tasks, in order ('' unversioned)."""

    async def read() -> list[str]:
        client = await Client.connect(server.address)
        history = await client.get_workflow_handle(f"ticket-{ticket_id}").fetch_history()
        return [
            e.workflow_task_completed_event_attributes.deployment_version.build_id
            for e in history.events
            if e.HasField("workflow_task_completed_event_attributes")
        ]

    return asyncio.run(read())


def waits_for_review(env: dict[str, str], ticket_id: str) -> None:
    submitted = submit_breach(env, ticket_id, "--wait", "--json")
    assert submitted.code == 0, submitted.output
    assert '"state": "AWAITING_REVIEW"' in submitted.stdout, submitted.stdout


def approve(env: dict[str, str], ticket_id: str) -> None:
    approved = run_cli(env, "review", ticket_id, "--approve", "--reviewer", "sam")
    assert approved.code == 0, approved.output
    assert "ticket is now COMPLETED" in approved.stdout


def test_a_deployment_turns_versioning_on_then_rolls_out_a_build_and_waiting_tickets_follow(
    server: EmbeddedServer,
) -> None:
    env = environment(server.address, server.data_dir)
    unversioned = build(server, None)
    try:
        waits_for_review(env, "VER-1")
        first = build(server, "build-a")
    finally:
        asyncio.run(unversioned.stop())
    try:
        # Polling, and told it takes nothing until an operator makes it current.
        assert "versioned: deployment ticket-agents, build build-a" in first.output()
        assert "warning: this build is not current or ramping" in first.output()
        assert "--deployment-name ticket-agents --build-id build-a" in first.output()
        make_current(server, "build-a")
        # The ticket began on the unversioned worker, which is gone: the current build takes it.
        approve(env, "VER-1")
        waits_for_review(env, "VER-2")
        second = build(server, "build-b")
    finally:
        asyncio.run(first.stop())
    try:
        make_current(server, "build-b")
        approve(env, "VER-2")
        assert "this build is the deployment's current version" in build_output(server)
    finally:
        asyncio.run(second.stop())

    first_builds, second_builds = builds_of(server, "VER-1"), builds_of(server, "VER-2")
    assert first_builds[0] == "" and first_builds[-1] == "build-a", first_builds
    assert second_builds[0] == "build-a" and second_builds[-1] == "build-b", second_builds
    with sqlite3.connect(server.data_dir / "outbox.sqlite3") as db:
        sent = db.execute(
            "SELECT ticket_id, COUNT(*) FROM deliveries GROUP BY ticket_id ORDER BY ticket_id"
        ).fetchall()
    assert sent == [("VER-1", 1), ("VER-2", 1)]


def build_output(server: EmbeddedServer) -> str:
    """A worker of the current build, started now: what it says of its routing."""
    third = build(server, "build-b")
    try:
        return third.output()
    finally:
        asyncio.run(third.stop())
