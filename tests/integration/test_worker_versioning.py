"""Worker Versioning on the real dev server: a deployment that turns it on, then rolls out a new
build, moves the tickets waiting for a person to the build an operator made current, and every
ticket is answered once (shared/worker_versioning.py, docs/deploy.md)."""

import asyncio
import contextlib
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.delivery.activity import DeliveryActivities
from activities.providers.registry import build_providers
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings
from shared.stores.sqlite_ledger import SqliteLedger
from shared.worker_versioning import versioning_from_env
from starter.embedded import EmbeddedServer, temporal_cli
from starter.worker_process import WorkerProcess
from task_queue_workers import build_workers
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


def make_current(server: EmbeddedServer, build_id: str) -> None:
    """What the operator runs (docs/deploy.md)."""
    set_version(server, DEPLOYMENT, "set-current-version", build_id)


def set_version(
    server: EmbeddedServer, deployment: str, command: str, build_id: str, *more: str
) -> None:
    """`temporal worker deployment <command>`. The server takes it once the build's workers have
    polled, which they begin to just after they say so: asked again until it does."""
    args = [
        temporal_cli(),
        "worker",
        "deployment",
        command,
        "--address",
        server.address,
        "--deployment-name",
        deployment,
        "--build-id",
        build_id,
        *more,
        "--yes",
    ]
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{command} {build_id} failed: {done.stderr}")
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
        assert "warning: this build is not current or ramping (build build-a is current)" in (
            second.output()
        )
        make_current(server, "build-b")
        approve(env, "VER-2")
        assert "worker: this build is current: it takes new tasks" in build_output(server)
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


class Stamp:
    """An activity that says when it started and which build ran it."""

    def __init__(self, build_id: str) -> None:
        self.build_id = build_id

    @activity.defn(name="stamp")
    async def stamp(self) -> tuple[float, str]:
        return time.time(), self.build_id


@workflow.defn(sandboxed=False)
class OneCall:
    @workflow.run
    async def run(self, queue: str) -> tuple[float, str]:
        return await workflow.execute_activity(
            "stamp",
            task_queue=queue,
            start_to_close_timeout=timedelta(seconds=60),
            result_type=tuple[float, str],
        )


def test_a_provider_queue_s_rate_limit_holds_while_two_builds_poll_it_during_a_ramp(
    server: EmbeddedServer,
) -> None:
    """Each provider queue's limit (the workers' max_task_queue_activities_per_second, or its
    controller's rate) is the provider's: a ramp must not give each build a limit of its own."""
    # 30 calls: a first second's burst (5) and 25 more at the limit, about 5 s.
    limit, calls = 5.0, 30

    async def ramped() -> list[tuple[float, str]]:
        client = await Client.connect(server.address)
        name = f"ramp-{uuid.uuid4().hex[:8]}"
        workers = []
        for build_id in ("b1", "b2"):
            version = WorkerDeploymentConfig(
                version=WorkerDeploymentVersion(name, build_id),
                use_worker_versioning=True,
                default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
            )
            workers += [
                Worker(client, task_queue=name, workflows=[OneCall], deployment_config=version),
                Worker(
                    client,
                    task_queue=f"{name}-llm",
                    activities=[Stamp(build_id).stamp],
                    max_task_queue_activities_per_second=limit,
                    deployment_config=version,
                ),
            ]
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            # In a thread: the workers poll on this loop.
            await asyncio.to_thread(set_version, server, name, "set-current-version", "b1")
            await asyncio.to_thread(
                set_version, server, name, "set-ramping-version", "b2", "--percentage", "50"
            )
            handles = [
                await client.start_workflow(
                    OneCall.run, f"{name}-llm", id=f"{name}-{i}", task_queue=name
                )
                for i in range(calls)
            ]
            return [await h.result() for h in handles]

    started = asyncio.run(ramped())
    assert {build for _, build in started} == {"b1", "b2"}, "the ramp sent no call to one build"
    times = sorted(t for t, _ in started)
    rate = (calls - 1) / (times[-1] - times[0])
    # The server's bucket lets a first second's worth through at once; a limit per build would
    # come out near twice the limit.
    assert rate < 1.5 * limit, f"{rate:.1f} calls/s against a limit of {limit:g}/s"


def test_every_worker_the_process_builds_is_the_build(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    """The tickets, delivery, provider and rate-control queues' workers: an unversioned one among
    them would take its queue's tasks from every build's workflows."""
    versioning = versioning_from_env(
        {"TICKETS_WORKER_DEPLOYMENT": DEPLOYMENT, "TICKETS_WORKER_BUILD_ID": "build-c"}
    )
    assert versioning is not None
    openai = WorkerSettings().providers["openai"].model_copy(update={"adaptive_limit": True})
    adaptive = WorkerSettings(providers={"openai": openai})

    async def built() -> list[Worker]:
        client = await Client.connect(server.address)
        config = PipelineConfig()
        return build_workers(
            client,
            config,
            build_providers(config, WorkerSettings(), {}),
            ["tickets", "delivery", "llm-offline", "llm-openai"],
            delivery=DeliveryActivities(SqliteLedger(tmp_path / "outbox.sqlite3")),
            worker_settings=adaptive,
            deployment=versioning.worker_config(),
        )

    workers = asyncio.run(built())
    assert [w.task_queue for w in workers] == [
        "tickets",
        "delivery",
        "llm-offline",
        "llm-openai",
        "rate-control",
    ]
    for worker in workers:
        assert worker.config().get("deployment_config") == versioning.worker_config(), (
            worker.task_queue
        )
