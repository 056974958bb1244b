"""A pytest plugin for recording old paths (docs/versioning.md, "The old paths"): loaded with
``-p dump_histories`` (this folder on PYTHONPATH), every workflow a test starts has its history
written to ``$DUMP_DIR`` when the test ends, passed or failed. Run against the commit before a
patch, the patch's own test fails there, and its workflow's history is the patch's old path."""

import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import temporalio.client

_started: list[Any] = []
_start = temporalio.client.Client.start_workflow


async def _start_recorded(self: temporalio.client.Client, *args: Any, **kwargs: Any) -> Any:
    handle = await _start(self, *args, **kwargs)
    _started.append(handle)
    return handle


temporalio.client.Client.start_workflow = _start_recorded  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
async def _dump_histories() -> AsyncIterator[None]:
    _started.clear()
    yield
    out = Path(os.environ["DUMP_DIR"])
    out.mkdir(parents=True, exist_ok=True)
    for handle in list(_started):
        try:
            history = await handle.fetch_history()
        except Exception as err:  # a workflow the test's server no longer has
            print(f"dump_histories: {handle.id}: {err}")
            continue
        kept = {"workflow_id": handle.id, "history": json.loads(history.to_json())}
        name = f"{handle.id.replace('/', '_')}-{uuid.uuid4().hex[:6]}.json"
        (out / name).write_text(json.dumps(kept))
