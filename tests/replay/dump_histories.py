"""A pytest plugin for recording old paths (docs/versioning.md, "The old paths"): loaded with
``-p dump_histories`` (this folder on PYTHONPATH), every workflow a test starts has the history
of each of its runs, and of each child they started, written to ``$DUMP_DIR`` when the test
ends, passed or failed. Run against the commit before a
patch, the patch's own test fails there, and its workflow's history is the patch's old path."""

import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import temporalio.client

_started: list[tuple[temporalio.client.Client, str, str | None]] = []
_start = temporalio.client.Client.start_workflow


async def _start_recorded(self: temporalio.client.Client, *args: Any, **kwargs: Any) -> Any:
    handle = await _start(self, *args, **kwargs)
    _started.append((self, handle.id, handle.first_execution_run_id or handle.result_run_id))
    return handle


temporalio.client.Client.start_workflow = _start_recorded  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
async def _dump_histories() -> AsyncIterator[None]:
    _started.clear()
    yield
    out = Path(os.environ["DUMP_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    seen: set[tuple[str, str | None]] = set()
    for client, workflow_id, run_id in list(_started):
        await _dump(client, workflow_id, run_id, out, seen)


async def _dump(
    client: temporalio.client.Client,
    workflow_id: str,
    run_id: str | None,
    out: Path,
    seen: set[tuple[str, str | None]],
) -> None:
    """The run started, each run it continued as (the patch may be asked in any one of them,
    not only the newest), and every child they started (an orchestrator under its ticket),
    each in a file of its own."""
    while (workflow_id, run_id) not in seen:
        seen.add((workflow_id, run_id))
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except Exception as err:  # a workflow the test's server no longer has
            print(f"dump_histories: {workflow_id} {run_id}: {err}")
            return
        kept = {"workflow_id": workflow_id, "history": json.loads(history.to_json())}
        name = f"{workflow_id.replace('/', '_')}-{uuid.uuid4().hex[:6]}.json"
        (out / name).write_text(json.dumps(kept))
        following = None
        for event in history.events:
            if event.HasField("child_workflow_execution_started_event_attributes"):
                child = event.child_workflow_execution_started_event_attributes.workflow_execution
                await _dump(client, child.workflow_id, child.run_id, out, seen)
            if event.HasField("workflow_execution_continued_as_new_event_attributes"):
                attributes = event.workflow_execution_continued_as_new_event_attributes
                following = attributes.new_execution_run_id
        if following is None:
            return
        run_id = following
