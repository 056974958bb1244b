"""A rerun keeps what a chunk that did not complete had paid for.

A chunk terminated (or timed out) fails its items in the swarm's result, and a swarm cancelled
while a chunk runs ends with that chunk cancelled: in neither case does the swarm hold the
answers the chunk's calls had already bought. A rerun of the same items reads them from the
chunk's own history; before, it analysed (and paid for) the whole chunk again.
"""

import argparse
import asyncio
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from shared import names
from shared.agents import AgentReply
from shared.queue_pollers import workers_polling
from shared.swarm import InsightRequest, ReviewInsights
from starter import fanout, swarm_outputs
from tests.support.fake_fanout import FakeInsights
from tests.support.swarm_run import items, returning, workers
from tests.support.temporal import wait_until
from tests.support.workers import running


@dataclass
class OneHeld(FakeInsights):
    """Answers every item at once but ``held``, which waits for ``release``."""

    held: str = "r00002"
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        if request.item.item_id == self.held:
            await self.release.wait()
        return await FakeInsights.analyze(self, request)


async def _two_answered(client: Client, chunk_id: str) -> bool:
    try:
        history = await client.get_workflow_handle(chunk_id).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:  # not started yet
            return False
        raise
    completed = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    return sum(e.event_type == completed for e in history.events) == 2


async def _swarm_with_two_answered(
    client: Client, task_queue: str, args: argparse.Namespace
) -> "asyncio.Task[int]":
    """``swarm`` started (the CLI's command, running) once two of its first chunk's three items
    are answered and recorded, the third in flight."""
    await wait_until(lambda: workers_polling(client, task_queue), what="the worker's polls")
    run = asyncio.create_task(fanout.cmd_swarm(args))
    chunk_id = f"{args.id}/chunk-0"
    await wait_until(lambda: _two_answered(client, chunk_id), what="chunk-0's answers", timeout=60)
    return run


def _args(tmp_path: Path, swarm_id: str, max_failure_rate: float = 0.2) -> argparse.Namespace:
    source = tmp_path / "reviews.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i.item_id, "text": i.text}) + "\n" for i in items(6))
    )
    return argparse.Namespace(
        file=str(source), output=None, json=True, id=swarm_id,
        concurrency=3, chunk_size=3, max_failure_rate=max_failure_rate,
    )  # fmt: skip


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("replay_check")
@pytest.mark.parametrize("ended", ["chunk terminated", "swarm cancelled"])
async def test_a_rerun_keeps_the_answers_a_chunk_that_did_not_complete_had_bought(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    ended: str,
) -> None:
    # On the dev server: the time-skipping server never tells a parent its child was terminated.
    client = dev_env.client
    monkeypatch.setattr(names, "TICKETS_TASK_QUEUE", task_queue)
    monkeypatch.setattr(fanout, "open_client", lambda: returning(client))
    args = _args(tmp_path, f"swarm-{uuid.uuid4().hex[:8]}")
    chunk_id = f"{args.id}/chunk-0"
    first = OneHeld()
    async with running(workers(client, task_queue, first)):
        run = await _swarm_with_two_answered(client, task_queue, args)
        if ended == "chunk terminated":
            await client.get_workflow_handle(chunk_id).terminate("stuck")
            first.release.set()
            with pytest.raises(fanout.SwarmFailed, match="3 of 6 items failed"):
                await run
        else:
            await client.get_workflow_handle(args.id).cancel()
            with pytest.raises(fanout.SwarmFailed, match="was cancelled"):
                await run
            # What it had bought is said (it said only "was cancelled").
            said = " ".join(capsys.readouterr().err.split())
            answered = "2 of 6 item(s) have their answers (40 tokens, $0.0020 to make them, over"
            assert answered in said
            first.release.set()  # after the chunk ended: the held call's answer never recorded

    described = await client.get_workflow_handle(args.id).describe()
    read = await swarm_outputs.run_results(client, args.id, described.run_id)
    assert sorted(r.item_id for r in read) == (
        ["r00000", "r00001"]
        if ended == "swarm cancelled"
        else ["r00000", "r00001", "r00003", "r00004", "r00005"]
    )
    assert all(r.usage is not None and r.usage.input_tokens > 0 for r in read)

    # The rerun analyses what was not answered: the held item (and, after a cancel, the
    # second chunk the swarm never started), not the two answers it bought.
    again = FakeInsights()
    async with running(workers(client, task_queue, again)):
        await wait_until(lambda: workers_polling(client, task_queue), what="the worker's polls")
        await fanout.cmd_swarm(args)
    assert again.calls == (1 if ended == "chunk terminated" else 4)


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("replay_check")
async def test_a_swarm_that_completes_past_a_terminated_chunk_gives_the_answers_it_had_bought(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Half the items may fail: the swarm completes with chunk-0's three items failed, and a
    # rerun shows that completed run. Two of them had been answered (and paid for) in the
    # chunk before it was terminated: they were listed failed, in the file and the summary.
    client = dev_env.client
    monkeypatch.setattr(names, "TICKETS_TASK_QUEUE", task_queue)
    monkeypatch.setattr(fanout, "open_client", lambda: returning(client))
    args = _args(tmp_path, f"swarm-{uuid.uuid4().hex[:8]}", max_failure_rate=0.6)
    args.output = str(tmp_path / "insights.jsonl")
    chunk_id = f"{args.id}/chunk-0"
    first = OneHeld()
    async with running(workers(client, task_queue, first)):
        run = await _swarm_with_two_answered(client, task_queue, args)
        await client.get_workflow_handle(chunk_id).terminate("stuck")
        first.release.set()
        assert await run == 0

    printed = capsys.readouterr()
    summary = json.loads(printed.out)["result"]
    written = [json.loads(line) for line in Path(args.output).read_text().splitlines()]
    assert (summary["succeeded"], summary["failed"]) == (5, 1)
    assert [f["item_id"] for f in summary["failures"]] == ["r00002"]
    assert [(r["item_id"], r["ok"]) for r in written] == [
        ("r00000", True), ("r00001", True), ("r00002", False),
        ("r00003", True), ("r00004", True), ("r00005", True),
    ]  # fmt: skip
    assert written[0]["output"] is not None
    assert "2 item(s) listed as failed with their chunk had been answered" in printed.err
