"""A private Temporal stack for benchmarks: the embedded dev server (SQLite file in a temporary
directory, as `make run` uses) and one `python -m worker` process, with a client that shares the
worker's payload store."""

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from shared.agents import AgentRole
from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from starter.worker_process import WorkerProcess
from tests.support.processes import free_port


@dataclass
class Stack:
    client: Client
    worker: WorkerProcess
    data: Path
    address: str
    server_pid: int | None = None


@dataclass
class Server:
    client: Client
    data: Path
    address: str
    pid: int | None


@contextlib.asynccontextmanager
async def embedded_server(**server_options: Any) -> AsyncIterator[Server]:
    """The embedded server alone, in a temporary data directory that this process's payload
    store (``TICKETS_DATA_DIR``) shares with the workers the caller starts."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        server = EmbeddedServer(data, "127.0.0.1", free_port(), ui=False, **server_options)
        await server.start()
        try:
            os.environ["TICKETS_DATA_DIR"] = str(data)
            client = await connect(connection_settings({"TEMPORAL_ADDRESS": server.address}))
            yield Server(client, data, server.address, server.pid)
        finally:
            await server.stop()


@contextlib.asynccontextmanager
async def embedded_stack(**server_options: Any) -> AsyncIterator[Stack]:
    """``server_options``: EmbeddedServer settings other than `make run`'s
    (``sqlite_synchronous``, ``sqlite_journal_mode``, ``task_queue_partitions``, ``fairness``)."""
    async with embedded_server(**server_options) as server:
        worker = WorkerProcess(server.data, server.address)
        try:
            await worker.start()
            yield Stack(server.client, worker, server.data, server.address, server.pid)
        finally:
            await worker.stop()


def openai_pipeline_file(
    path: Path,
    provider: str,
    base_url: str,
    model: str,
    *,
    max_concurrent: int,
    requests_per_minute: float | None = None,
    headroom: float | None = None,
    adaptive_limit: bool | None = None,
) -> Path:
    """A worker's configuration file (TICKETS_CONFIG): every agent on ``provider``, one
    OpenAI-compatible server (a benchmark's fake) at ``base_url``; unset settings keep the
    provider's defaults."""
    routes = "".join(f'{role} = ["{provider}:{model}"]\n' for role in AgentRole)
    settings = [
        'kind = "openai"',
        'api_key_env = "OPENAI_API_KEY"',
        f'base_url = "{base_url}"',
        *([f"requests_per_minute = {requests_per_minute:g}"] if requests_per_minute else []),
        *([f"rate_limit_headroom = {headroom:g}"] if headroom is not None else []),
        *(
            [f"adaptive_limit = {str(adaptive_limit).lower()}"]
            if adaptive_limit is not None
            else []
        ),
        f"max_concurrent = {max_concurrent}",
        f'small_model = "{model}"',
        f'large_model = "{model}"',
    ]
    path.write_text(
        f"[providers.{provider}]\n"
        + "".join(f"{line}\n" for line in settings)
        + f"\n[agents]\n{routes}"
    )
    return path
