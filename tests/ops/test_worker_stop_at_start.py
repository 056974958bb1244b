"""A stop asked while the workers are still starting (validating against the server) stops
them: it asked only the workers already running, none were yet, they went on to poll, and the
process ran until killed (a pod deleted during a rollout, Ctrl-C while `python -m worker`
starts). Real SDK workers on the test server."""

import asyncio
import uuid

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import telemetry_exit
from tests.support.temporal import wait_until
from worker import run_until_stopped
from workflows import ALL_WORKFLOWS

# Bounds a hang, no more: the run ends within a second when it works.
HANG_BOUND_SECONDS = 30


@activity.defn(name="noop")
async def noop_activity() -> None:
    pass


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

    flushed: list[tuple[int, int]] = []
    monkeypatch.setattr(telemetry_exit, "flush", lambda ms: flushed.append((ms, len(exits))))

    worker.stopping(stop)
    assert stop.is_set() and exits == []  # the first drains
    worker.stopping(stop)
    assert exits == [130]
    assert "stopping now" in capsys.readouterr().err
    # The buffered spans get a moment first (os._exit skips the exit's own flush).
    assert flushed == [(300, 0)]


def test_a_terminals_ctrl_c_and_its_parents_stop_right_after_are_one_request(
    monkeypatch,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """`make run`'s Ctrl-C reaches the worker (the terminal's group) and the starter's SIGTERM
    follows within milliseconds: taken for a second request, it stopped the worker at once,
    with no grace, its stores unclosed and its spans unsent."""
    import signal

    import worker

    exits: list[int] = []
    monkeypatch.setattr(worker.os, "_exit", exits.append)
    stop = asyncio.Event()

    worker.stopping(stop, signal.SIGINT)
    worker.stopping(stop, signal.SIGTERM)  # the parent's, right after: the same request
    assert stop.is_set() and exits == []
    worker.stopping(stop, signal.SIGTERM)  # asked again: now it is a second request
    assert exits == [130]
    assert "stopping now" in capsys.readouterr().err

    exits.clear()
    again = asyncio.Event()
    worker.stopping(again, signal.SIGINT)
    worker.stopping(again, signal.SIGINT)  # Ctrl-C twice: at once, however soon
    assert exits == [130]


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


async def test_a_rate_controller_that_cannot_start_leaves_the_worker_polling_and_stoppable(
    ts_env: WorkflowEnvironment,
) -> None:
    """prepare() raising anything but the few errors it expected (the payload store busy or down)
    left the provider queue's worker before the SDK's run began: it never polled, and its
    shutdown waited for a run that never started, so the process never ended."""
    from activities.rate_reports import OutcomeReporter, ReportingWorker
    from shared.stores.errors import StoreUnavailable

    class StoreDownReporterFake(OutcomeReporter):
        async def prepare(self) -> None:
            raise StoreUnavailable("the payload store is down (fake)")

    queue = f"llm-stop-{uuid.uuid4().hex[:8]}"
    reporter = StoreDownReporterFake(ts_env.client, queue, "rate-control", 1.0, 30.0)
    polling = ReportingWorker(
        ts_env.client, task_queue=queue, activities=[noop_activity], reporter=reporter
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_until_stopped([polling], stop))

    async def polls() -> bool:
        return polling.is_running and not running.done()

    await wait_until(polls, timeout=HANG_BOUND_SECONDS, what="the worker polling")
    stop.set()
    failure = await asyncio.wait_for(running, HANG_BOUND_SECONDS)
    assert failure is None


async def test_the_rate_report_sender_outlives_a_send_that_fails_in_any_way() -> None:
    """Only RPCError and RuntimeError were caught: a payload store busy or down ended the task,
    and the controller heard no more 429s from this worker, with nothing said."""
    from activities.rate_reports import OutcomeReporter
    from shared.stores.errors import StoreBusy

    class FlakyReporterFake(OutcomeReporter):
        def __init__(self) -> None:
            super().__init__(None, "llm-fake", "rate-control", 1.0, 30.0)  # type: ignore[arg-type]
            self.sends = 0

        async def flush(self) -> None:
            self.sends += 1
            if self.sends == 1:
                raise StoreBusy("the payload store is busy (fake)")

    reporter = FlakyReporterFake()
    sender = asyncio.create_task(reporter.run(interval=0.01))

    async def sent_again() -> bool:
        assert not sender.done(), sender
        return reporter.sends >= 3

    try:
        await wait_until(sent_again, timeout=HANG_BOUND_SECONDS, what="sends after the failure")
    finally:
        sender.cancel()
