"""`gc-payloads` and an owner whose runs a visibility query cannot list (an id with a quote, as
the Web UI or another program may start one): its payloads are kept and the owner is counted
among those not checked, so the command says so and exits 1. It was skipped in silence: its
payloads were never collected, and the run exited 0. What gone owners stored stays meanwhile
(the owner not checked may refer to it). On the dev server, with the file store."""

import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from shared.payload_gc import plan_collection
from shared.stores.payloads import PayloadOwner, content_key
from shared.stores.payloads_file import FilePayloadDriver


async def test_an_owner_whose_runs_cannot_be_listed_is_reported_and_kept(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    owner_id = f"ticket-it's-{uuid.uuid4().hex[:6]}"
    # It exists (no worker polls its queue): the collection must judge its payloads.
    await client.start_workflow("NoSuchWorkflow", id=owner_id, task_queue=f"q-{owner_id}")
    driver = FilePayloadDriver(tmp_path / "payloads")
    data = b"an input only that workflow's history refers to"
    owner = PayloadOwner("workflow", owner_id, "NoSuchWorkflow", "run-1", client.namespace)
    # And a workflow Temporal no longer knows (a child's input, say): the owner not checked may
    # refer to it, so it stays too (it was released: only what checked owners refer to was
    # looked at).
    child = b"a gone child's input"
    gone = PayloadOwner("workflow", f"gone-{uuid.uuid4().hex[:6]}", "T", "run-2", client.namespace)
    try:
        await driver.put_many([(content_key(data), data)], owner)
        await driver.put_many([(content_key(child), child)], gone)
        report, releases = await plan_collection(client, driver, timedelta(0))
    finally:
        await client.get_workflow_handle(owner_id).terminate("the test is over")

    assert releases == []
    assert report.owners_not_checked == 1 and report.owners_gone == 1
    assert report.kept_for_unchecked_owners == 1
    assert any(owner_id in p and "could not be listed" in p for p in report.problems)
