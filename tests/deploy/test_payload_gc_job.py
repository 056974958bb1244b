"""The compose file's payload-gc-schedule job run as its container would, against a real dev
server: its command, with only the environment the file gives it (Temporal's address, no keys,
no database), creates the payload collection's schedule, the next `up` runs it again without
error and keeps one schedule, and PAYLOAD_GC_EVERY=off removes it."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shared import names
from tests.deploy.compose_file import container_env
from tests.support.processes import PROJECT_ROOT
from tests.support.temporal import DEV_SERVER_STARTUP, binary

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def run_job(
    service: dict[str, Any], address: str, workdir: Path, every: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``every``: another PAYLOAD_GC_EVERY than .env.example's."""
    command = list(service["command"])
    if every is not None:
        command[command.index("--schedule") + 1] = every
    assert command[:3] == ["python", "-m", "starter"], command
    env = {**container_env(service), "TEMPORAL_ADDRESS": address, "PATH": os.environ["PATH"]}
    # The image's /app: the project on the path, and no data directory (no key ring) there.
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return subprocess.run(
        [sys.executable, *command[1:]],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def schedule_every(client: Client) -> timedelta:
    described = await client.get_schedule_handle(names.PAYLOAD_GC_SCHEDULE_ID).describe()
    return described.schedule.spec.intervals[0].every


async def test_the_job_schedules_the_collection_with_only_temporal_s_address(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    job = services["payload-gc-schedule"]
    assert set(container_env(job)) <= {
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "OTEL_SDK_DISABLED",
    }
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), dev_server_startup_timeout=DEV_SERVER_STARTUP
    )
    try:
        address = env.client.service_client.config.target_host
        first = run_job(job, address, tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Scheduled the payload collection every 1d" in first.stdout
        assert await schedule_every(env.client) == timedelta(days=1)

        again = run_job(job, address, tmp_path)  # the next `docker compose up`
        assert again.returncode == 0, again.stdout + again.stderr
        assert "Nothing to change" in again.stdout  # no update: the watch counts from one
        assert [s.id async for s in await env.client.list_schedules()] == [
            names.PAYLOAD_GC_SCHEDULE_ID
        ]
        assert not (tmp_path / "data").exists(), "the job wrote a data directory"

        off = run_job(job, address, tmp_path, every="off")  # PAYLOAD_GC_EVERY=off
        assert off.returncode == 0, off.stdout + off.stderr
        assert f"Removed the schedule {names.PAYLOAD_GC_SCHEDULE_ID}" in off.stdout
        assert [s.id async for s in await env.client.list_schedules()] == []
    finally:
        await env.shutdown()
