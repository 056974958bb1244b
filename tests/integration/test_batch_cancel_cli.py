"""`batch --wait` over a batch someone cancels: the tickets it started are workflows of their
own and go on to their answers, those it had not started never start. It said only "was
cancelled", as if the whole batch had stopped."""

import asyncio
import json
import re
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from shared import names
from shared.temporal_client import connect, connection_settings
from tests.integration.conftest import Stack
from tests.support.processes import kill_group, start_cli
from tests.support.temporal import wait_until

pytestmark = pytest.mark.integration

TICKETS = 40


async def test_a_cancelled_batch_says_what_it_left_running_and_what_it_never_started(
    stack: Stack, tmp_path: Path
) -> None:
    prefix = f"FBX{uuid.uuid4().hex[:6]}"
    source = tmp_path / "batch.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"{prefix}-{i}", "subject": "Invoice", "body": f"Invoice {i}?"})
            + "\n"
            for i in range(TICKETS)
        )
    )
    batch_id = f"batch-{prefix}"
    job = start_cli(stack.env, "batch", str(source), "--id", batch_id, "--window", "1", "--wait")
    try:
        client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))

        async def first_ticket_closed() -> bool:
            try:
                described = await client.get_workflow_handle(
                    names.ticket_workflow_id(f"{prefix}-0")
                ).describe()
            except Exception:  # not started yet
                return False
            return described.status is WorkflowExecutionStatus.COMPLETED

        await wait_until(first_ticket_closed, timeout=60, what="the batch's first ticket")
        await client.get_workflow_handle(batch_id).cancel()
        _, stderr = await asyncio.to_thread(job.communicate, timeout=60)
    finally:
        kill_group(job)

    said = " ".join(stderr.split())
    assert job.returncode != 0, said
    counted = re.search(
        rf"the batch {batch_id} was cancelled: of its {TICKETS} ticket\(s\), (\d+) had reported "
        r"back(?:, (\d+) (?:was|were) in flight: .*?)?, (\d+) never started \(the same `batch` "
        r"command starts them\)",
        said,
    )
    assert counted is not None, said
    reported, in_flight, unstarted = (int(n or 0) for n in counted.groups())
    # Window 1, cancelled once the first ticket completed: every ticket in one count.
    assert reported >= 1 and in_flight <= 1 and reported + in_flight + unstarted == TICKETS
    assert "Traceback" not in stderr
