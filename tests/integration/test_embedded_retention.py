"""The embedded server keeps closed tickets as long as the cluster's namespace does (30 days, or
TEMPORAL_NAMESPACE_RETENTION), not `start-dev`'s one day: a closed ticket's workflow is what
recognises the same ticket submitted again, and after a day a file submitted again had every
ticket it had answered worked and answered a second time."""

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from starter.embedded_retention import RETENTION_ENV, retention_from_env
from starter.errors import CliError
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


async def retention_of(server: EmbeddedServer) -> timedelta:
    settings = connection_settings({"TEMPORAL_ADDRESS": server.address})
    client = await connect(settings)
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=settings.namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def test_the_embedded_server_keeps_closed_tickets_thirty_days_and_as_set_when_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RETENTION_ENV, raising=False)
    server = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    await server.start()
    try:
        assert await retention_of(server) == timedelta(days=30)
    finally:
        await server.stop()
    # The same database started again with another setting takes it (as the cluster's job does).
    monkeypatch.setenv(RETENTION_ENV, "3d")
    again = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    await again.start()
    try:
        assert await retention_of(again) == timedelta(days=3)
    finally:
        await again.stop()


@pytest.mark.parametrize(
    ("raw", "said"),
    [("30 days", "is not a duration"), ("12h", "for a day at least"), ("99999w", "ten years")],
)
def test_a_retention_it_cannot_use_is_refused_naming_the_variable(raw: str, said: str) -> None:
    with pytest.raises(CliError) as refused:
        retention_from_env({RETENTION_ENV: raw})
    assert RETENTION_ENV in str(refused.value) and said in str(refused.value)


def test_the_same_spellings_as_the_cluster_s_variable() -> None:
    assert retention_from_env({}) == timedelta(days=30)
    assert retention_from_env({RETENTION_ENV: "720h"}) == timedelta(days=30)
    assert retention_from_env({RETENTION_ENV: " 2w "}) == timedelta(weeks=2)
