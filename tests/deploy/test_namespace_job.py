"""The compose file's namespace job (deploy/temporal/setup-namespace.sh) run against a real dev
server with the Temporal CLI it calls: it makes the namespace and the ticket search attributes,
and a second run with another retention sets it (the first run's stayed for good)."""

import asyncio
import os
import subprocess
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shared import search_attributes as sa
from tests.support.processes import PROJECT_ROOT
from tests.support.temporal import DEV_SERVER_STARTUP, binary

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SCRIPT = PROJECT_ROOT / "deploy" / "temporal" / "setup-namespace.sh"
NAMESPACE = "tickets-job"


def run_job(address: str, retention: str) -> subprocess.CompletedProcess[str]:
    cli_folder = str(Path(binary("temporal")).parent)
    env = {
        "PATH": f"{cli_folder}{os.pathsep}{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": address,
        "NAMESPACE": NAMESPACE,
        "RETENTION": retention,
    }
    return subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=150, check=False
    )


async def retention_hours(client: Client) -> float:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=NAMESPACE)
    )
    return described.config.workflow_execution_retention_ttl.seconds / 3600


async def test_the_job_makes_the_namespace_and_follows_a_changed_retention() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), dev_server_startup_timeout=DEV_SERVER_STARTUP
    )
    try:
        address = env.client.service_client.config.target_host
        first = await asyncio.to_thread(run_job, address, "2d")
        assert first.returncode == 0, first.stdout + first.stderr
        assert await retention_hours(env.client) == 48
        listed = await asyncio.to_thread(
            subprocess.run,
            [
                binary("temporal"),
                "operator",
                "search-attribute",
                "list",
                "-n",
                NAMESPACE,
                "--address",
                address,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        for key in sa.ALL_KEYS:
            assert key.name in listed.stdout

        # Changed in .env on a cluster that has run: it was ignored.
        second = await asyncio.to_thread(run_job, address, "5d")
        assert second.returncode == 0, second.stdout + second.stderr
        assert await retention_hours(env.client) == 120
        assert "search attribute TicketState (Keyword) exists" in second.stdout
    finally:
        await env.shutdown()
