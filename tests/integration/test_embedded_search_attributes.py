"""The embedded server keeps the ticket search attributes cached, as a production server does,
instead of `start-dev`'s reading them from its database on every use; and a database made before
they were registered gets them at start, usable at once."""

import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from shared.search_attributes import TICKET_STATE
from starter.embedded import SEARCH_ATTRIBUTE_CACHE_FLAG, EmbeddedServer
from tests.support.processes import free_port
from tests.support.server_counters import counter_after, metered_server

pytestmark = pytest.mark.integration

# The persistence read `start-dev` makes for every search-attribute lookup when it does not cache.
SEARCH_ATTRIBUTE_READ = ("persistence_requests", "GetCurrentClusterMetadata")
RUNS = 20
# Reads per run at least, uncached (measured: 10).
UNCACHED_READS = 2


def cache_flags(server: EmbeddedServer) -> list[str]:
    command = server.command()
    return [
        command[i + 1]
        for i, arg in enumerate(command)
        if arg == "--dynamic-config-value" and SEARCH_ATTRIBUTE_CACHE_FLAG in command[i + 1]
    ]


def test_only_a_server_that_registers_the_attributes_at_start_caches_them(tmp_path: Path) -> None:
    registering = EmbeddedServer(tmp_path, "127.0.0.1", 7233, ui=False)
    bare = EmbeddedServer(tmp_path, "127.0.0.1", 7233, ui=False, register_search_attributes=False)
    uncached = EmbeddedServer(tmp_path, "127.0.0.1", 7233, ui=False, search_attribute_cache=False)

    assert cache_flags(registering) == [f"{SEARCH_ATTRIBUTE_CACHE_FLAG}=false"]
    assert cache_flags(bare) == []  # the worker adds them at run time there: read every time
    assert cache_flags(uncached) == []


@workflow.defn(name="UpsertsTicketState")
class UpsertsTicketState:
    @workflow.run
    async def run(self) -> None:
        workflow.upsert_search_attributes([TICKET_STATE.value_set("DONE")])


async def start_with_state(client: Client, queue: str) -> str:
    """Starts one with TicketState set (refused when the server does not know it); its id."""
    handle = await client.start_workflow(
        UpsertsTicketState.run,
        id=f"sa-{uuid.uuid4().hex}",
        task_queue=queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(TICKET_STATE, "NEW")]),
    )
    return handle.id


async def reads_per_run(server: EmbeddedServer, metrics_url: str, least: float = 0.0) -> float:
    """Search-attribute reads per workflow started with one and upserting it once (one
    workflow task each); ``least``: the reads per run to wait for (TimeoutError if they never
    come), so a scrape taken halfway through the server's publication does not read 0."""
    client = await Client.connect(server.address)
    queue = f"sa-{uuid.uuid4().hex}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[UpsertsTicketState],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        await client.get_workflow_handle(await start_with_state(client, queue)).result()
        before = await counter_after(metrics_url, SEARCH_ATTRIBUTE_READ, 1)
        for _ in range(RUNS):
            await client.get_workflow_handle(await start_with_state(client, queue)).result()
        after = await counter_after(
            metrics_url, SEARCH_ATTRIBUTE_READ, 1 + RUNS, at_least=before + least * RUNS
        )
        return (after - before) / RUNS


@pytest.mark.parametrize("cached", [True, False])
async def test_a_workflow_with_search_attributes_reads_them_from_the_database_only_uncached(
    tmp_path: Path, cached: bool
) -> None:
    async with metered_server(tmp_path, search_attribute_cache=cached) as (server, url):
        if cached:
            reads = await reads_per_run(server, url)
        else:  # what `start-dev` does unless told: the check below would catch a renamed setting
            reads = await reads_per_run(server, url, least=UNCACHED_READS)

    if cached:
        assert reads < 1, reads  # measured: 0 per run cached, 10 uncached
    else:
        assert reads >= UNCACHED_READS, reads


async def test_a_database_from_before_the_attributes_has_them_usable_as_soon_as_it_answers(
    tmp_path: Path,
) -> None:
    older = EmbeddedServer(
        tmp_path, "127.0.0.1", free_port(), ui=False, register_search_attributes=False
    )
    await older.start()
    await older.stop()

    server = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    await server.start()
    try:
        # Refused ("no mapping defined for search attribute") if they were not registered, or
        # registered but not yet in the server's caches.
        client = await Client.connect(server.address)
        started = client.get_workflow_handle(await start_with_state(client, "nowhere"))
        described = await started.describe()
    finally:
        await server.stop()

    assert described.typed_search_attributes.get(TICKET_STATE) == "NEW"
