"""A swarm run again keeps an earlier run's results (``SwarmState.carried``) and carries on, across
continue-as-new, only those an item left still needs: each was carried twice, in ``carried`` and
in the results, and the last run of a rerun of 20,000 items decoded 39,000 results at its start
(~1.4 s of the SDK's 2 s deadlock limit). The count of kept results stays whole."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.swarm import (
    ItemResult,
    ReviewInsights,
    Sentiment,
    SwarmResult,
    SwarmSettings,
    SwarmState,
)
from tests.support.fake_fanout import FakeInsights
from tests.support.swarm_run import items, workers
from tests.support.workers import running


def kept(item_id: str) -> ItemResult:
    return ItemResult(
        item_id=item_id,
        ok=True,
        output=ReviewInsights(sentiment=Sentiment.POSITIVE, key_points=["kept"]),
    )


@pytest.mark.usefixtures("replay_check")
async def test_a_rerun_carries_on_only_the_kept_results_an_item_left_needs(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = ts_env.client
    swarm = items(12)
    # The first chunk all kept, one item of the second, one of the third (the third run's), and
    # one whose item comes twice: the later copy is in the last run.
    twice = swarm[1].model_copy()
    swarm.append(twice)
    carried = {i.item_id: kept(i.item_id) for i in [*swarm[:5], swarm[7], swarm[11]]}
    agent = FakeInsights()
    async with running(workers(client, task_queue, agent)):
        handle = await client.start_workflow(
            names.SWARM_WORKFLOW,
            # Chunks of 3, two a run: runs of items 0-5, 6-11 and 12.
            args=[
                swarm,
                SwarmState(settings=SwarmSettings(chunk_size=3, chunks_per_run=2), carried=carried),
            ],
            id=f"swarm-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
            result_type=SwarmResult,
        )
        result = await handle.result()
        runs = await _run_states(client, handle.id)

    # Kept: items 0-4, 7, 11 and the second copy of item 1; the other five were analysed.
    assert (result.total, result.succeeded, result.reused) == (13, 13, 8)
    assert agent.calls == 5
    assert [o.output.key_points for o in result.outputs if o.item_id == swarm[1].item_id] == [
        ["kept"],
        ["kept"],
    ]
    # What each run started with: the second run no longer carries items 0, 2, 3, 4 (item 1
    # comes again in the third run), the third none but item 1's.
    assert [sorted(s.carried) for s in runs] == [
        sorted(carried),
        sorted([swarm[1].item_id, swarm[7].item_id, swarm[11].item_id]),
        [swarm[1].item_id],
    ]
    assert [s.totals.reused for s in runs] == [0, 4, 6]


async def _run_states(client, workflow_id: str) -> list[SwarmState]:  # type: ignore[no-untyped-def]
    """Each run's starting state, oldest first."""
    states: list[SwarmState] = []
    run_id: str | None = None
    handle = client.get_workflow_handle(workflow_id)
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        start = history.events[0].workflow_execution_started_event_attributes
        [state] = await client.data_converter.decode(start.input.payloads[1:2], [SwarmState])
        states.append(state)
        run_id = start.continued_execution_run_id
        if not run_id:
            break
    del handle
    return states[::-1]
