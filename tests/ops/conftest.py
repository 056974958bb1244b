"""A Temporal dev server of its own for the operations tests (health, replay, redrive, payload
garbage collection): their commands look at every workflow in the namespace, so no other test's
workflows may be there."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from shared.data_converter import data_converter
from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from tests.support.processes import environment, free_port

# A deleted workflow is gone in seconds instead of half a minute: the server deletes a closed
# execution once its queue's ack level passed the close, and moves that level every 30 s by
# default (Temporal's own deletion tests shorten it the same way).
FAST_DELETION = [
    "--dynamic-config-value",
    'history.transferProcessorUpdateAckInterval="1s"',
]


@dataclass
class OpsServer:
    server: EmbeddedServer
    data_dir: Path  # its key file, and the default ledger and payload store
    env: dict[str, str]  # for CLI and worker processes: this server, this data directory
    client: Client  # the project's converter on this data directory (its key ring and payloads)


@pytest.fixture(scope="package")
async def ops_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OpsServer]:
    data_dir = tmp_path_factory.mktemp("ops")
    server = EmbeddedServer(data_dir, "127.0.0.1", free_port(), ui=False, extra_args=FAST_DELETION)
    await server.start()
    env = environment(server.address, data_dir)
    try:
        client = await connect(connection_settings(env), converter=data_converter(env=env))
        yield OpsServer(server, data_dir, env, client)
    finally:
        await server.stop()
