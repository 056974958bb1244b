"""How long the embedded server keeps a closed ticket: the cluster's retention, not `start-dev`'s
one day.

`temporal server start-dev` creates its `default` namespace with a retention of 24 hours. A
closed ticket's workflow is what recognises the same ticket submitted again (its id is derived
from its content) and what `status`, the review console and `report` read; after a day on the
embedded server it was gone, and a file submitted again the next day (a bad line mended) had
every ticket it had already answered worked and answered a second time. The cluster's namespace
job sets the retention from TEMPORAL_NAMESPACE_RETENTION (30 days by default,
docker-compose.yml); the embedded server now takes the same variable and default at each start.
"""

import argparse
import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client

from starter.durations import parse_duration
from starter.errors import CliError

RETENTION_ENV: Final = "TEMPORAL_NAMESPACE_RETENTION"
DEFAULT_RETENTION: Final = "30d"
# The server refuses less than a day (its minimum retention).
MIN_RETENTION: Final = timedelta(days=1)


def retention_from_env(env: Mapping[str, str] | None = None) -> timedelta:
    """TEMPORAL_NAMESPACE_RETENTION (``30d``, ``720h``, ``2w``), 30 days when unset."""
    env = os.environ if env is None else env
    raw = (env.get(RETENTION_ENV) or "").strip() or DEFAULT_RETENTION
    try:
        value = parse_duration(raw)
    except argparse.ArgumentTypeError as err:
        raise CliError(f"{RETENTION_ENV}: {err}") from None
    if value < MIN_RETENTION:
        raise CliError(
            f"{RETENTION_ENV} is {raw}: the Temporal server keeps closed workflows for a day "
            "at least"
        )
    return value


async def keep_closed_workflows(client: Client, namespace: str, retention: timedelta) -> bool:
    """Set ``namespace``'s retention to ``retention`` when it is not that already; True when it
    was changed."""
    service = client.workflow_service
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    current = described.config.workflow_execution_retention_ttl.ToTimedelta()
    if current == retention:
        return False
    ttl = Duration()
    ttl.FromTimedelta(retention)
    await service.update_namespace(
        UpdateNamespaceRequest(
            namespace=namespace, config=NamespaceConfig(workflow_execution_retention_ttl=ttl)
        )
    )
    return True
