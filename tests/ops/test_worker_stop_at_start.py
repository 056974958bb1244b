"""A stop asked while the workers are still starting (validating against the server) stops
them: it asked only the workers already running, none were yet, they went on to poll, and the
process ran until killed (a pod deleted during a rollout, Ctrl-C while `python -m worker`
starts). Real SDK workers on the test server."""

import asyncio
import uuid

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from worker import run_until_stopped
from workflows import ALL_WORKFLOWS

# Bounds a hang, no more: the run ends within a second when it works.
HANG_BOUND_SECONDS = 30


async def test_a_stop_before_the_workers_poll_stops_every_one(ts_env: WorkflowEnvironment) -> None:
    workers = [
        Worker(ts_env.client, task_queue=f"stop-{uuid.uuid4().hex[:8]}", workflows=ALL_WORKFLOWS)
        for _ in range(2)
    ]
    stop = asyncio.Event()
    stop.set()  # the signal came during startup
    drained: list[bool] = []

    failure = await asyncio.wait_for(
        run_until_stopped(workers, stop, on_stop=lambda: drained.append(True)),
        HANG_BOUND_SECONDS,
    )

    assert failure is None
    assert drained == [True]
    assert not any(w.is_running for w in workers)


def test_a_second_signal_stops_at_once(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Ctrl-C again with a model call in flight waited out the whole grace period."""
    import worker

    exits: list[int] = []
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    stop = asyncio.Event()

    worker.stopping(stop)
    assert stop.is_set() and exits == []  # the first drains
    worker.stopping(stop)
    assert exits == [130]
    assert "stopping now" in capsys.readouterr().err


class FailingWorker:
    """Fails as it starts (a fatal worker error), like the SDK's run() raising."""

    is_running = False

    async def run(self) -> None:
        raise RuntimeError("the worker failed")

    async def shutdown(self) -> None:
        return None


async def test_a_worker_that_fails_is_not_taken_for_a_drain(ts_env: WorkflowEnvironment) -> None:
    """/healthz said 200 and /readyz "draining" for up to the grace period after a fatal
    error, while the other workers drained, so probes never saw the failure."""
    healthy = Worker(
        ts_env.client, task_queue=f"stop-{uuid.uuid4().hex[:8]}", workflows=ALL_WORKFLOWS
    )
    drained: list[bool] = []

    failure = await asyncio.wait_for(
        run_until_stopped(
            [healthy, FailingWorker()],  # type: ignore[list-item]
            asyncio.Event(),
            on_stop=lambda: drained.append(True),
        ),
        HANG_BOUND_SECONDS,
    )

    assert isinstance(failure, RuntimeError) and str(failure) == "the worker failed"
    assert drained == []  # not "draining": the health state sees a stopped worker
    assert not healthy.is_running
