"""`python -m starter replay` (starter/replay.py): the running executions of a type are replayed
whatever else started recently, and the recent closed ones whatever is running (each group its
own query and limit); histories stream into the replayer a few at a time instead of being
gathered first. On the real dev server, with a test-only workflow type of its own."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowHandle
from temporalio.worker import Worker

from starter import replay
from tests.ops.conftest import OpsServer
from tests.ops.replay_probe_workflows import PROBE, ReplayProbe, ReplayProbeChanged
from tests.support.temporal import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

RUN = uuid.uuid4().hex[:6]
RUNNING = 3
CLOSED = 12
LIMIT = 2
# The running probes after the first record this patch: a newer version than the first's.
NEWER = "probe-newer-version"


@dataclass
class Probes:
    running: set[str]  # workflow ids, started first
    closed: set[str]  # started after, completed
    oldest_running: str  # the only one of the older version


@pytest.fixture(scope="module")
async def probes(ops_server: OpsServer) -> AsyncIterator[Probes]:
    client = ops_server.client
    queue = f"replay-probe-{RUN}"
    handles: list[WorkflowHandle[Any, Any]] = []

    async def listed() -> bool:
        running = [
            e
            async for e in client.list_workflows(
                f"WorkflowType = '{PROBE}' AND ExecutionStatus = 'Running'"
            )
        ]
        everything = [e async for e in client.list_workflows(f"WorkflowType = '{PROBE}'")]
        newer = [
            e
            async for e in client.list_workflows(
                f"WorkflowType = '{PROBE}' AND TemporalChangeVersion = '{NEWER}'"
            )
        ]
        return (
            len(running) == RUNNING
            and len(everything) == RUNNING + CLOSED
            and len(newer) == RUNNING - 1
        )

    async with Worker(client, task_queue=queue, workflows=[ReplayProbe]):
        for i in range(RUNNING):
            handles.append(
                await client.start_workflow(
                    PROBE,
                    args=[True, NEWER if i else None],
                    id=f"probe-{RUN}-run-{i}",
                    task_queue=queue,
                )
            )
        for i in range(CLOSED):
            handle = await client.start_workflow(
                PROBE, False, id=f"probe-{RUN}-closed-{i}", task_queue=queue
            )
            await handle.result()
            handles.append(handle)
        # Inside: the running probes must have run their first task (the patch) by then.
        await wait_until(listed, timeout=30, interval=0.2, what="the probes in visibility")
    probes = Probes(
        running={h.id for h in handles[:RUNNING]},
        closed={h.id for h in handles[RUNNING:]},
        oldest_running=handles[0].id,
    )

    try:
        yield probes
    finally:
        for handle in handles[:RUNNING]:
            await handle.terminate("test over")
        for handle in handles:
            await client.workflow_service.delete_workflow_execution(
                DeleteWorkflowExecutionRequest(
                    namespace=client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=handle.id),
                )
            )


async def test_running_and_recent_closed_executions_each_get_their_own_limit(
    ops_server: OpsServer, probes: Probes
) -> None:
    report = await replay.replay_recent(
        ops_server.client, timedelta(hours=1), LIMIT, [ReplayProbeChanged]
    )

    replayed = {f.workflow_id for f in report.failures}
    assert all(f.error.startswith("RuntimeError") for f in report.failures), report.failures
    assert len(replayed & probes.running) == LIMIT, replayed
    assert len(replayed & probes.closed) == LIMIT, replayed
    assert report.replayed == {PROBE: 2 * LIMIT}
    assert report.running == {PROBE: LIMIT}


async def test_with_more_running_than_the_limit_each_version_is_replayed_the_oldest_too(
    ops_server: OpsServer, probes: Probes
) -> None:
    """The server lists the newest first: the two newest running probes (both of the newer
    version) took both places, and the oldest, the one version a deploy was likeliest to
    break, was never replayed."""
    report = await replay.replay_recent(
        ops_server.client, timedelta(hours=1), LIMIT, [ReplayProbeChanged]
    )

    replayed = {f.workflow_id for f in report.failures} & probes.running
    assert len(replayed) == LIMIT
    assert probes.oldest_running in replayed


async def test_histories_stream_into_the_replayer_instead_of_being_gathered_first(
    ops_server: OpsServer, probes: Probes, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    fetched_at_each_pull: list[int] = []
    fetch_history = WorkflowHandle.fetch_history

    async def counted_fetch(self: WorkflowHandle[Any, Any], *args: Any, **kwargs: Any) -> Any:
        history = await fetch_history(self, *args, **kwargs)
        fetched.append(self.id)
        return history

    new_replayer = replay.new_replayer

    def watched_replayer(*args: Any, **kwargs: Any) -> Any:
        replayer = new_replayer(*args, **kwargs)
        iterate = replayer.workflow_replay_iterator

        def iterator(histories: Any) -> Any:
            async def pulled() -> AsyncIterator[Any]:
                async for history in histories:
                    fetched_at_each_pull.append(len(fetched))
                    yield history

            return iterate(pulled())

        replayer.workflow_replay_iterator = iterator  # type: ignore[method-assign]
        return replayer

    monkeypatch.setattr(WorkflowHandle, "fetch_history", counted_fetch)
    monkeypatch.setattr(replay, "new_replayer", watched_replayer)

    report = await replay.replay_recent(
        ops_server.client, timedelta(hours=1), 100, [ReplayProbeChanged]
    )

    total = RUNNING + CLOSED
    assert report.replayed == {PROBE: total} and len(fetched) == total
    # The first history is replayed while at most FETCH_CONCURRENCY are fetched, not all 15.
    assert fetched_at_each_pull[0] <= replay.FETCH_CONCURRENCY < total, fetched_at_each_pull
