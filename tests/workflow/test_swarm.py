"""SwarmWorkflow on the time-skipping server: a bounded window, chunks, continue-as-new, the
failure threshold."""

import argparse
import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.swarm import (
    SwarmItem,
    SwarmProgress,
    SwarmResult,
    SwarmSettings,
)
from starter import fanout, swarm_outputs
from tests.support.fake_fanout import FakeInsights
from tests.support.swarm_run import items, returning, start, workers
from tests.support.temporal import histories, patch_ids
from tests.support.workers import running

# Temporal warns at 10,240 events and stops a history at 51,200; the design keeps every history
# under this, whatever the number of items.
MAX_EVENTS = 10_000


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("replay_check")
async def test_a_thousand_items_twenty_at_a_time_in_small_histories(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # Calls finish twenty at a time: only a window that really holds twenty gets through.
    agent = FakeInsights(barrier=asyncio.Barrier(20))
    bad = {7, 500, 999}
    settings = SwarmSettings(concurrency=20, chunk_size=100, chunks_per_run=3)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, items(1_000, bad), settings)
        result = await handle.result()
        progress = await handle.query(names.PROGRESS_QUERY, result_type=SwarmProgress)

    assert (result.total, result.succeeded, result.failed) == (1_000, 997, 3)
    assert result.success_rate == pytest.approx(0.997)
    assert [f.item_id for f in result.failures] == ["r00007", "r00500", "r00999"]
    assert all("cannot analyse" in f.reason for f in result.failures)
    assert [r.item_id for r in result.outputs] == [i.item_id for i in items(1_000)]
    assert result.latency_ms_p50 == result.latency_ms_p99 == 5.0
    assert result.tokens == 997 * 20 and result.cost_usd == pytest.approx(0.997)
    assert (progress.done, progress.failed, progress.total) == (1_000, 3, 1_000)
    assert agent.calls == 1_000  # a permanent failure is not retried
    assert agent.most_in_flight == 20

    # Ten chunks of 100, the parent continuing as new after every three: four parent runs.
    assert result.runs == 4
    everything = await histories(ts_env.client, handle.id, handle.result_run_id)
    parents = [h for h in everything if h.workflow_id == handle.id]
    chunks = [h for h in everything if h.workflow_id != handle.id]
    assert len(parents) == 4 and len(chunks) == 10
    sizes = [len(h.events) for h in everything]
    assert max(sizes) < MAX_EVENTS, sizes


@pytest.mark.usefixtures("replay_check")
async def test_more_failures_than_the_threshold_fail_the_run_with_the_summary(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agent = FakeInsights()
    settings = SwarmSettings(concurrency=4, max_failure_rate=0.2)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, items(10, {1, 4, 8}), settings)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "SwarmFailed"
    assert cause.message.startswith("3 of 10 items failed (30%, more than the 20% allowed)")
    assert "r00001: analyze_item failed: BadRequestError: cannot analyse r00001" in cause.message
    summary = SwarmResult.model_validate({**cause.details[0], "outputs": []})
    assert (summary.succeeded, summary.failed) == (7, 3)


@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize("chunk_size", [4, 500], ids=["chunks", "one-chunk"])
async def test_a_swarm_over_its_threshold_still_writes_what_its_paid_calls_found(
    ts_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk_size: int,
) -> None:
    # Three chunks of four, or one the swarm runs itself (single-chunk-inline); the error
    # carries the summary only, the CLI reads the results from the run's history.
    source = tmp_path / "reviews.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i.item_id, "text": i.text}) + "\n" for i in items(10, {1, 4, 9}))
    )
    output = tmp_path / "insights.jsonl"
    monkeypatch.setattr(names, "TICKETS_TASK_QUEUE", task_queue)
    monkeypatch.setattr(fanout, "open_client", lambda: returning(ts_env.client))
    args = argparse.Namespace(
        file=str(source), output=str(output), json=True, id=f"swarm-{uuid.uuid4().hex[:8]}",
        concurrency=4, chunk_size=chunk_size, max_failure_rate=0.2,
    )  # fmt: skip
    async with running(workers(ts_env.client, task_queue, FakeInsights())):
        with pytest.raises(fanout.SwarmFailed, match="3 of 10 items failed"):
            await fanout.cmd_swarm(args)

    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [w["item_id"] for w in written] == [i.item_id for i in items(10)]
    assert [w["ok"] for w in written] == [i not in {1, 4, 9} for i in range(10)]
    assert all(w["output"]["sentiment"] for w in written if w["ok"])
    assert all("cannot analyse" in w["error"] for w in written if not w["ok"])

    # Run again under the same id: the seven it analysed are kept, only the three are tried
    # (it analysed, and paid for, all ten again); the output still has every item.
    again = FakeInsights()
    output.unlink()
    async with running(workers(ts_env.client, task_queue, again)):
        with pytest.raises(fanout.SwarmFailed, match="3 of 10 items failed"):
            await fanout.cmd_swarm(args)
    assert again.calls == 3
    # A CLI that attached to that rerun while it ran (the same command again after Ctrl-C)
    # had no kept results to pass on: read by chunk ids, the 7 kept were in none of the
    # rerun's chunks and its file had the 3 failures only. Read from the run's history: all.
    with pytest.raises(WorkflowFailureError) as rerun:
        await ts_env.client.get_workflow_handle(args.id).result()
    assert isinstance(rerun.value.cause, ApplicationError)
    summary = SwarmResult.model_validate({**rerun.value.cause.details[0], "outputs": []})
    order = [i.item_id for i in items(10)]
    attached = await swarm_outputs.with_chunk_outputs(ts_env.client, args.id, summary, order)
    assert [(r.item_id, r.ok) for r in attached.outputs] == [
        (w["item_id"], w["ok"]) for w in written
    ]
    # And a third time: still only the three (read from the chunks' ids, the second run's
    # chunk-0 held only the item that failed, and the third paid for its neighbours again).
    third = FakeInsights()
    async with running(workers(ts_env.client, task_queue, third)):
        with pytest.raises(fanout.SwarmFailed, match="3 of 10 items failed"):
            await fanout.cmd_swarm(args)
    assert third.calls == 3
    rewritten = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(w["item_id"], w["ok"]) for w in rewritten] == [
        (w["item_id"], w["ok"]) for w in written
    ]
    handle = ts_env.client.get_workflow_handle(args.id)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.details[0]["reused"] == 7


@pytest.mark.usefixtures("replay_check")
async def test_failures_at_the_threshold_complete_the_run_with_them_listed(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    agent = FakeInsights()
    settings = SwarmSettings(concurrency=4, max_failure_rate=0.2)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, items(10, {2, 3}), settings)
        result = await handle.result()

    assert (result.succeeded, result.failed, result.runs) == (8, 2, 1)
    assert [f.item_id for f in result.failures] == ["r00002", "r00003"]
    assert all(not r.ok and r.output is None for r in result.outputs if r.item_id in {"r00002"})


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("ended", "reason"), [("terminate", "terminated"), ("cancel", "cancel")])
@pytest.mark.usefixtures("replay_check")
async def test_a_chunk_ended_on_its_own_fails_its_items_and_the_rest_carry_on(
    dev_env: WorkflowEnvironment, task_queue: str, ended: str, reason: str
) -> None:
    # On the dev server: the time-skipping server never tells a parent its child was terminated.
    # Cancelled on its own (an operator in the Web UI), not by the swarm: it once failed the run.
    agent = FakeInsights(hold=asyncio.Event())
    settings = SwarmSettings(concurrency=2, chunk_size=3, max_failure_rate=0.5)
    async with running(workers(dev_env.client, task_queue, agent)):
        handle = await start(dev_env.client, task_queue, items(6), settings)
        await agent.entered.wait()
        chunk = dev_env.client.get_workflow_handle(f"{handle.id}/chunk-0")
        await (chunk.terminate("stuck") if ended == "terminate" else chunk.cancel())
        agent.hold.set()  # type: ignore[union-attr]
        result = await handle.result()

    assert (result.succeeded, result.failed) == (3, 3)
    assert [f.item_id for f in result.failures] == ["r00000", "r00001", "r00002"]
    assert all(f.reason.startswith(f"{handle.id}/chunk-0 failed:") for f in result.failures)
    assert all(reason in f.reason.lower() for f in result.failures)


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize("char", ["中", "\x01"], ids=["chinese", "control"])
async def test_a_window_of_long_non_ascii_items_starts_in_groups_that_fit_a_message(
    dev_env: WorkflowEnvironment, task_queue: str, char: str
) -> None:
    # 100 items of 20,000 Chinese characters: 60 KB each in UTF-8, 6 MB in one workflow task's
    # commands, over the server's 4 MB limit (which terminated the chunk). Control characters
    # are 1 byte in UTF-8 but 6 in the JSON they travel in (\u0001): 12 MB.
    long_items = [SwarmItem(item_id=f"zh{i:03d}", text=char * 20_000) for i in range(100)]
    settings = SwarmSettings(concurrency=100, chunk_size=100)
    agent = FakeInsights()
    async with running(workers(dev_env.client, task_queue, agent)):
        handle = await start(dev_env.client, task_queue, long_items, settings)
        result = await handle.result()

    assert (result.succeeded, result.failed) == (100, 0)
    assert agent.calls == 100
    # One chunk, run by the swarm itself: its first group is cut in the workflow task of its
    # configuration snapshot, where a group patch's marker would follow the local activity's
    # (which does not replay reliably); that code takes both cuts without asking.
    [only] = await histories(dev_env.client, handle.id, handle.result_run_id)
    assert patch_ids(only.events) == ["sizes-decided-first", "single-chunk-inline"]


@pytest.mark.usefixtures("replay_check")
async def test_an_item_the_swarm_cannot_read_fails_alone_and_ids_given_twice_keep_both_results(
    ts_env: WorkflowEnvironment, task_queue: str
) -> None:
    # A swarm started outside the CLI: one item too long for an item, two items sharing an id.
    # The data converter's refusal failed the swarm's workflow task over and over (no item ran),
    # and the chunk kept results by id, so one of two items with the same id lost its result.
    agent = FakeInsights()
    given: list[Any] = [*items(4), *items(2)]  # r00000 and r00001 twice
    given.insert(2, {"item_id": "long-one", "text": "x" * 20_001})
    settings = SwarmSettings(concurrency=4, chunk_size=3, max_failure_rate=0.5)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, given, settings)
        result = await handle.result()

    assert [r.item_id for r in result.outputs] == [
        "r00000", "r00001", "long-one", "r00002", "r00003", "r00000", "r00001"
    ]  # fmt: skip
    assert (result.total, result.succeeded, result.failed) == (7, 6, 1)
    [failure] = result.failures
    assert failure.item_id == "long-one"
    assert failure.reason.startswith("item 3 is not a valid item: text:"), failure.reason
    assert agent.calls == 6


def test_the_threshold_message_never_says_a_rate_is_more_than_itself() -> None:
    from workflows.swarm import over

    assert over(0.3, 0.2) == "30%, more than the 20%"
    assert over(11 / 105, 0.1) == "10.5%, more than the 10.0%"


async def test_chunks_are_sized_for_every_route_an_item_may_be_tried_on(
    ts_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each route an item is tried on schedules a call carrying the item: the client sized
    # chunks for one route, and 270 long items whose first three routes of four failed passed
    # the history limit (the server terminated the chunk and every item failed with it). The
    # history budget is made small here so that ordinary items show the cut.
    from shared import command_budget
    from shared.agents import AgentRole
    from tests.support.fakes import fake_routes_config
    from tests.support.temporal import replay_histories

    monkeypatch.setattr(command_budget, "CHUNK_HISTORY_BYTES", 200_000)
    base = fake_routes_config()
    first = base.routes[AgentRole.INSIGHTS][0]
    four = [first.model_copy(update={"model": f"model-{i}"}) for i in range(4)]
    agent = FakeInsights(
        config=base.model_copy(update={"routes": {**base.routes, AgentRole.INSIGHTS: four}})
    )
    swarm = [SwarmItem(item_id=f"r{i:02d}", text="x" * 2_000) for i in range(30)]
    settings = SwarmSettings(concurrency=4, chunk_size=100)
    async with running(workers(ts_env.client, task_queue, agent)):
        handle = await start(ts_env.client, task_queue, swarm, settings)
        result = await handle.result()
        everything = await histories(ts_env.client, handle.id, handle.result_run_id)
        # Replayed here, while the small budget holds (the replay check runs after the test).
        await replay_histories(ts_env.client, [(handle.id, handle.result_run_id)])

    assert (result.total, result.succeeded) == (30, 30)
    chunks = [h for h in everything if h.workflow_id != handle.id]
    # 200,000 bytes // (4 routes x (2,000 characters + 2,048 allowance)) = 12 items a chunk.
    assert len(chunks) == 3, [h.workflow_id for h in chunks]
