"""Payload garbage collection's test helpers: a store's ownership aged past the grace, whether
a payload still reads, what a history refers to, and a workflow deleted for good."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.converter import StorageDriverClaim, StorageDriverRetrieveContext

from shared import names
from shared.data_converter import data_converter
from shared.history_references import referenced_hashes, workflow_exists
from shared.payload_gc import GcReport, GcRequest
from shared.stores.config import StoreConfig
from shared.stores.errors import PayloadMissing
from shared.stores.factory import payload_driver
from shared.stores.payloads import ContentAddressedDriver
from shared.stores.payloads_file import FilePayloadDriver
from shared.stores.payloads_postgres import PostgresPayloadDriver
from shared.temporal_client import connect, connection_settings
from starter import erase_workflows
from tests.support.temporal import wait_until

# Low enough that a ticket's status answer and its larger results leave the history.
OFFLOAD_BYTES = "1024"


async def offloading_store(
    server_env: dict[str, str], key_file: Path, data_dir: Path, database_url: str | None = None
) -> tuple[dict[str, str], ContentAddressedDriver, Client]:
    """The environment, payload store and client of a data directory (or database) of a test's
    own on this server, offloading payloads over OFFLOAD_BYTES: its stored payloads are the
    test's only."""
    env = {
        **server_env,
        "TICKETS_DATA_DIR": str(data_dir),
        "TICKETS_ENCRYPTION_KEY_FILE": str(key_file),
        "TICKETS_PAYLOAD_OFFLOAD_BYTES": OFFLOAD_BYTES,
    }
    if database_url is not None:
        env["TICKETS_DATABASE_URL"] = database_url
    driver = payload_driver(StoreConfig.from_env(env))
    client = await connect(connection_settings(env), converter=data_converter(driver, env=env))
    return env, driver, client


async def backdate(driver: ContentAddressedDriver, hours: float) -> None:
    """Every ownership as if stored ``hours`` ago (the grace period has passed)."""
    if isinstance(driver, PostgresPayloadDriver):
        async with driver.database.connection() as conn:
            await conn.execute(
                "UPDATE payload_owners SET last_stored_at = now() - make_interval(hours => %s)",
                (hours,),
            )
        return
    assert isinstance(driver, FilePayloadDriver)
    then = (datetime.now(UTC) - timedelta(hours=hours)).isoformat()
    for path in (driver.root / "owners").rglob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines() if line]
        path.write_text("".join(json.dumps({**r, "stored_at": then}) + "\n" for r in records))


async def history_refers_to(client: Client, workflow_id: str) -> set[str]:
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    codec = client.data_converter.payload_codec
    assert codec is not None
    return await referenced_hashes(events, codec.decode)


async def readable(driver: ContentAddressedDriver, key: str) -> bool:
    claim = StorageDriverClaim(claim_data={"sha256": key, "bytes": "0"})
    try:
        await driver.retrieve(StorageDriverRetrieveContext(), [claim])
    except PayloadMissing:
        return False
    return True


async def delete_workflow(client: Client, workflow_id: str, *, children: bool = False) -> None:
    """Deletes the workflow, every run of it, and waits until the server no longer knows it;
    ``children``: its child workflows too, theirs first. (Deleting by id takes its latest run
    only: a ticket reset into a new run left its first, whose payloads were in this test's
    store, and the replay gate's tests on the same server could not read them; an orchestrated
    ticket deleted alone left its resolution's OrchestratorWorkflow and sub-tasks the same way.)"""
    if children:
        query = f"ParentWorkflowId = '{workflow_id}'"
        for child in sorted({e.id async for e in client.list_workflows(query)}):
            await delete_workflow(client, child, children=True)
    runs = [e.run_id async for e in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    for run_id in [*runs, ""]:  # "" the latest run, which the listing may not show yet
        await erase_workflows.delete_execution(client, workflow_id, run_id)

    async def deleted() -> bool:
        return not await workflow_exists(client, workflow_id)

    await wait_until(deleted, timeout=30, what=f"the deleted workflow {workflow_id} to be gone")


@activity.defn(name=names.COLLECT_PAYLOADS)
async def collect_payloads_not_all_checked_fake(request: GcRequest) -> GcReport:
    """Stands for the collection meeting an owner whose history it could not read."""
    return GcReport(
        store="recorded",
        namespace=activity.info().workflow_namespace,
        grace_seconds=request.grace_seconds,
        applied=True,
        owners_checked=1,
        owners_not_checked=1,
        problems=["ticket-T-REC: the server answered: recorded"],
    )
