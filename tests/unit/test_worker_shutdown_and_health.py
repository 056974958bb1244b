"""How long a stopping worker waits for in-flight work, and what its health server answers."""

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from shared.health import HealthState, parse_address, start_health_server
from shared.pipeline_config import AgentTimeouts, PipelineConfig
from shared.settings import ConfigError
from shared.shutdown import MAX_SHUTDOWN_GRACE, SHUTDOWN_MARGIN, shutdown_grace
from workflows.options import DELIVERY_START_TO_CLOSE


def test_the_grace_covers_the_longest_agent_attempt_plus_a_margin() -> None:
    assert shutdown_grace(PipelineConfig(), {}) == timedelta(seconds=120) + SHUTDOWN_MARGIN
    slow = PipelineConfig(agent_timeouts=AgentTimeouts(start_to_close_seconds=300))
    assert shutdown_grace(slow, {}) == timedelta(seconds=305)
    # At most the hour an explicit grace may be: an agent attempt given a day waited a day.
    day = PipelineConfig(agent_timeouts=AgentTimeouts(start_to_close_seconds=86_400))
    assert shutdown_grace(day, {}) == MAX_SHUTDOWN_GRACE


def test_a_log_level_logging_does_not_know_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import worker

    with pytest.raises(SystemExit) as usage:
        worker.main(["--log-level", "verbose"])
    assert usage.value.code == 2
    assert "invalid choice: 'VERBOSE'" in capsys.readouterr().err


def test_short_agent_attempts_still_leave_a_delivery_time_to_finish() -> None:
    quick = PipelineConfig(
        agent_timeouts=AgentTimeouts(start_to_close_seconds=10, heartbeat_seconds=5)
    )
    assert shutdown_grace(quick, {}) == DELIVERY_START_TO_CLOSE + SHUTDOWN_MARGIN


def test_the_grace_can_be_set_and_a_bad_value_names_the_variable() -> None:
    env = {"TICKETS_SHUTDOWN_GRACE_SECONDS": "2.5"}
    assert shutdown_grace(PipelineConfig(), env) == timedelta(seconds=2.5)
    for bad in ("soon", "-1", "nan", "7200"):
        with pytest.raises(ConfigError, match="TICKETS_SHUTDOWN_GRACE_SECONDS"):
            shutdown_grace(PipelineConfig(), {"TICKETS_SHUTDOWN_GRACE_SECONDS": bad})


def test_a_health_address_must_be_host_and_port() -> None:
    assert parse_address("0.0.0.0:8090") == ("0.0.0.0", 8090)
    assert parse_address("[::1]:8090") == ("::1", 8090)
    for bad in ("8090", "localhost", "host:http", "host:70000", ":8090"):
        with pytest.raises(ConfigError, match="TICKETS_HEALTH_ADDRESS"):
            parse_address(bad)


class FakeWorker:
    """Stands in for a temporalio Worker: only ``is_running`` is asked."""

    def __init__(self) -> None:
        self.is_running = True


async def test_liveness_fails_when_a_worker_stops_unless_the_process_is_draining() -> None:
    workers = [FakeWorker(), FakeWorker()]
    state = HealthState(workers)
    server = await start_health_server("127.0.0.1:0", state)
    url = f"http://{server.address}"
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200
            assert (await http.get(f"{url}/readyz")).json() == {"checks": {}, "status": "ok"}
            workers[1].is_running = False
            stopped = await http.get(f"{url}/healthz")
            assert (stopped.status_code, stopped.json()["stopped"]) == (503, 1)
            assert (await http.get(f"{url}/readyz")).status_code == 503
            state.start_draining()
            assert (await http.get(f"{url}/healthz")).status_code == 200
            draining = await http.get(f"{url}/readyz")
            assert (draining.status_code, draining.json()["status"]) == (503, "draining")
            assert (await http.get(f"{url}/metrics")).status_code == 404
            assert (await http.post(f"{url}/healthz")).status_code == 405
    finally:
        await server.close()


async def test_a_request_with_oversized_headers_is_refused_and_the_server_carries_on() -> None:
    server = await start_health_server("127.0.0.1:0", HealthState([FakeWorker()]))
    host, port = server.address.rsplit(":", 1)
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nX-Junk: " + b"a" * 20_000 + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 431")
        async with httpx.AsyncClient(timeout=5) as http:
            assert (await http.get(f"http://{server.address}/healthz")).status_code == 200
    finally:
        await server.close()


class FailingThenDrainingFake:
    """Stands in for a temporalio Worker whose polling fails for good: as the SDK does, it calls
    its ``on_fatal_error`` at once, then drains its activities (``drain`` seconds) before its run
    raises, staying "running" meanwhile. ``fail_after`` None: a healthy worker, polling until
    asked to shut down (it then drains too)."""

    def __init__(self, failed: asyncio.Event | None, fail_after: float | None, drain: float):
        self.failed, self.fail_after, self.drain = failed, fail_after, drain
        self.is_running = True
        self._shutdown = asyncio.Event()
        self.shutdown_asked_at: float | None = None

    async def run(self) -> None:
        if self.fail_after is None:
            await self._shutdown.wait()
            await asyncio.sleep(self.drain)
            self.is_running = False
            return
        await asyncio.sleep(self.fail_after)
        if self.failed is not None:
            self.failed.set()  # the on_fatal_error the worker process gives every worker
        await asyncio.sleep(self.drain)
        self.is_running = False
        raise RuntimeError("polling failed for good")

    async def shutdown(self) -> None:
        self.shutdown_asked_at = asyncio.get_running_loop().time()
        self._shutdown.set()


async def test_a_worker_failing_for_good_stops_the_others_at_once_not_after_its_drain() -> None:
    # A review (2026-12-07): the process noticed a failed worker only when its run returned,
    # after it had drained its activities (the grace), while the others kept taking new work and
    # /healthz said 200; then gave the others a whole grace again: twice the grace in all.
    from shared.shutdown import run_until_stopped

    failed = asyncio.Event()
    broken = FailingThenDrainingFake(failed, fail_after=0.05, drain=1.0)
    healthy = FailingThenDrainingFake(None, fail_after=None, drain=0.2)
    started = asyncio.get_running_loop().time()

    failure = await run_until_stopped([broken, healthy], asyncio.Event(), failed=failed)  # type: ignore[list-item]

    assert isinstance(failure, RuntimeError)
    assert healthy.shutdown_asked_at is not None
    assert healthy.shutdown_asked_at - started < 0.5  # not after the broken one's 1 s drain


def test_a_worker_failing_for_good_fails_liveness_while_it_drains() -> None:
    workers = [FakeWorker(), FakeWorker()]  # both still "running": the SDK says so meanwhile
    state = HealthState(workers)
    assert state.alive()[0]
    state.fail()
    ok, body = state.alive()
    assert not ok and body["failed"] is True and body["stopped"] == 0
    state.start_draining()  # the process stops the rest: still a failure, not a shutdown
    assert not state.alive()[0]


class StartingWorker:
    """A temporalio Worker's two flags: not started, running, then shut down."""

    def __init__(self) -> None:
        self.is_running, self.is_shutdown = False, False


def test_workers_still_starting_are_alive_and_not_ready() -> None:
    """Before every worker runs (the start's checks, the SDK's validation one worker after
    another: seconds against a slow server) /healthz said 503 "failing", so a liveness probe
    restarted the pod in a loop; one worker running beside two still validating did too."""
    workers = [StartingWorker(), StartingWorker(), StartingWorker()]
    state = HealthState(workers)

    ok, body = state.alive()
    assert ok and body["status"] == "starting" and body["starting"] == 3
    ready, said = asyncio.run(state.ready())
    assert not ready and said["status"] == "starting"

    workers[0].is_running = True  # one polls, two still validate
    assert state.alive() == (
        True,
        {"status": "starting", "workers": 3, "stopped": 0, "starting": 2},
    )
    workers[1].is_shutdown = True  # failed its validation: stopped, not starting
    assert state.alive()[1]["status"] == "failing"
    workers[1].is_running, workers[1].is_shutdown = True, False
    workers[2].is_running = True
    assert state.alive() == (True, {"status": "ok", "workers": 3, "stopped": 0})
    assert asyncio.run(state.ready())[0]


def probed(code: str) -> list[str]:
    """What ``code`` prints, run in a fresh interpreter from the project's root (signal handlers
    are the process's: a test of them here would change pytest's own)."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return out.stdout.split()


def test_importing_the_worker_module_leaves_the_signal_handlers_alone() -> None:
    """The early handlers are the program's (python -m worker): installed on import, they took
    pytest's Ctrl-C (and any importer's) and only recorded it."""
    # Compared with what the process had before the import: a process started in the
    # background by a shell ignores SIGINT from the start (make test under `&` did).
    probe = (
        "import signal; before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]; "
        "import worker; "
        "after = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]; "
        "print(*(a is b for a, b in zip(before, after)))"
    )
    assert probed(probe) == ["True", "True"]


def test_a_signal_recorded_early_is_given_back_where_no_loop_takes_over() -> None:
    """`--check-config` runs no event loop that takes the signals: a Ctrl-C the early handlers
    recorded was ignored and the check ran on. Released, the run ends with the signal's code
    and the default handlers are back."""
    probe = (
        "import os, signal; from shared import early_signals as e; e.catch_early_stops(); "
        "os.kill(os.getpid(), signal.SIGTERM); got = e.release_early_stops(); "
        "print(got == signal.SIGTERM, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)"
    )
    assert probed(probe) == ["True", "True"]


def test_a_start_that_hangs_fails_liveness_after_its_deadline() -> None:
    """A server that takes connections and never answers held the start before any worker ran:
    "starting" (200) for good, nothing polling, and no liveness probe restarted it."""
    from shared.health import MAX_STARTING_SECONDS

    workers = [StartingWorker()]
    state = HealthState(workers)
    assert state.alive()[0]
    state.began -= MAX_STARTING_SECONDS + 1  # as if the start began that long ago

    ok, body = state.alive()
    assert not ok and body["status"] == "failing" and body["starting"] == 1
