"""Recording the scheduled payload collection's histories (``python -m
tests.replay.record_histories payload-gc``): ``PayloadGc`` on a dev server, once with the real
activity over the recording's payload store (a ticket's payloads to check), once with a stand-in
activity whose report names an owner it could not check (the run fails), saved as
``payloadgc-<version>-<scenario>.json``."""

from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from shared.payload_gc import GcRequest
from tests.support.payload_gc import collect_payloads_not_all_checked_fake
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import real_pipeline

PAYLOAD_GC_VERSION = "v1"


async def record_payload_gc(client: Client, data_dir: Path, ids: dict[str, str]) -> None:
    from tests.replay.record_histories import save
    from workflows.payload_gc import PayloadGcWorkflow

    request = GcRequest(grace_seconds=timedelta(minutes=1).total_seconds())
    async with real_pipeline(client, "record-gc", data_dir):
        await (await start_ticket(client, "record-gc", make_ticket())).result()
        handle = await client.start_workflow(
            PayloadGcWorkflow.run, request, id="replay-payload-gc", task_queue="record-gc"
        )
        await handle.result()
        save(await handle.fetch_history(), f"payloadgc-{PAYLOAD_GC_VERSION}-collected", ids)

    async with Worker(
        client,
        task_queue="record-gc-fake",
        workflows=[PayloadGcWorkflow],
        activities=[collect_payloads_not_all_checked_fake],
    ):
        failing = await client.start_workflow(
            PayloadGcWorkflow.run,
            request,
            id="replay-payload-gc-not-all-checked",
            task_queue="record-gc-fake",
        )
        try:
            await failing.result()
        except WorkflowFailureError:
            name = f"payloadgc-{PAYLOAD_GC_VERSION}-owners-not-checked"
            save(await failing.fetch_history(), name, ids)
        else:
            raise RuntimeError("a run that could not check an owner did not fail")
