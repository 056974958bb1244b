"""An embedded server with its metrics endpoint, and its counters read once they have caught up:
for the tests that count what the server does (its persistence requests) rather than time it."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bench.server_metrics import scrape
from starter.embedded import EmbeddedServer
from tests.support.processes import free_port

WORKFLOW_TASK_COMPLETIONS = ("service_requests", "RespondWorkflowTaskCompleted")
METRICS_TIMEOUT = 30.0


@contextlib.asynccontextmanager
async def metered_server(
    data_dir: Path, **options: Any
) -> AsyncIterator[tuple[EmbeddedServer, str]]:
    """A started embedded server (``options``: EmbeddedServer's) and its metrics URL."""
    port = free_port()
    server = EmbeddedServer(
        data_dir,
        "127.0.0.1",
        free_port(),
        ui=False,
        extra_args=["--metrics-port", str(port)],
        **options,
    )
    await server.start()
    try:
        yield server, f"http://127.0.0.1:{port}/metrics"
    finally:
        await server.stop()


async def counter_after(
    metrics_url: str, counter: tuple[str, str], completions: float, at_least: float = 0.0
) -> float:
    """``counter`` once the endpoint (which publishes about once a second) counts
    ``completions`` workflow task completions, and ``counter`` itself at least ``at_least``;
    waits at most METRICS_TIMEOUT (then TimeoutError).

    The server publishes its counters scope by scope: a scrape in the middle of a publication
    can hold the new completions beside the old value of ``counter`` (seen once: 20 runs'
    reads counted as 0). A test that expects the counter to move says how far with
    ``at_least``; one that expects it to stay still can only read it once completions are in."""

    async def caught_up() -> float:
        while True:
            counts = await asyncio.to_thread(scrape, metrics_url)
            if counts[WORKFLOW_TASK_COMPLETIONS] >= completions and counts[counter] >= at_least:
                return counts[counter]
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(caught_up(), METRICS_TIMEOUT)
