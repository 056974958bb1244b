"""Every workflow type on a worker that caches no workflow: each workflow task rebuilds the
workflow from its whole history so far, so any non-determinism shows at the next step instead
of when a production worker happens to restart (the way Temporal's own samples test it)."""

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from tests.replay.scenarios import SCENARIOS, new_suffix
from tests.support.temporal import histories, replay_histories
from tests.support.workers import real_pipeline


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_each_workflow_type_completes_with_the_workflow_cache_off(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, name: str
) -> None:
    async with real_pipeline(dev_env.client, task_queue, tmp_path, max_cached_workflows=0):
        workflow_id, run_id = await SCENARIOS[name](dev_env.client, task_queue, new_suffix())
    found = await histories(dev_env.client, workflow_id, run_id)
    assert found, "the scenario left no history"
    # No task waited out its timeout: with more than one workflow task at a time, the next
    # task evicted a run whose local activity was running, and that task timed out (10 s).
    timed_out = [
        h.workflow_id
        for h in found
        for e in h.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    ]
    assert timed_out == [], f"workflow tasks timed out in {timed_out}"
    # Each step already replayed on the worker; the finished histories replay here as well.
    assert await replay_histories(dev_env.client, [(workflow_id, run_id)]) == len(found)
