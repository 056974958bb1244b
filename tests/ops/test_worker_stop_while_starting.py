"""A stop asked while the worker is still starting ends it there: the provider check, the stores,
Temporal's connection and the search attributes looked at no stop. A provider that accepts
connections and never answers held a SIGTERM for its whole timeout (90 s), after which the
worker began polling before it stopped. A real `python -m worker` process."""

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.processes import PROJECT_ROOT, environment, free_port

# Bounds a hang, no more: the worker ends within a second of the signal when it works.
HANG_BOUND_SECONDS = 30


def start_worker(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_a_sigterm_during_the_provider_check_ends_the_worker_there(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the socket closed under it
            conn, _ = silent.accept()
            held.append(conn)  # never answered
            accepted.set()

    threading.Thread(target=accept, daemon=True).start()
    env = environment(f"127.0.0.1:{free_port()}", tmp_path)
    env |= {
        "TICKETS_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-test-silent-0123456789",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{silent.getsockname()[1]}/v1",
    }
    worker = start_worker(env)
    try:
        assert accepted.wait(HANG_BOUND_SECONDS), "the worker never called the provider"
        asked = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=HANG_BOUND_SECONDS)
        took = time.monotonic() - asked
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        silent.close()
        for conn in held:
            conn.close()

    assert worker.returncode == 0, output
    assert "worker: stopped while starting; it had taken no task" in output
    assert "worker: polling" not in output
    assert took < HANG_BOUND_SECONDS / 2, took


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (its SigCgt mask, /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _sdk_loaded(pid: int) -> bool:
    return "temporal_sdk_bridge" in Path(f"/proc/{pid}/maps").read_text()


def test_a_sigterm_while_the_worker_imports_stops_it_once_it_can(tmp_path: Path) -> None:
    """Caught from the first line of worker.py, before the imports of a second or more, and
    acted on when the event loop takes the signals over: as PID 1 in a container with no init,
    a SIGTERM with no handler was dropped, and the worker went on to poll (shared/
    early_signals.py). Here (not PID 1) it ended the process at once, without a word."""
    env = environment(f"127.0.0.1:{free_port()}", tmp_path)
    worker = start_worker(env)
    try:
        deadline = time.monotonic() + HANG_BOUND_SECONDS
        while not _catches_sigterm(worker.pid):
            assert time.monotonic() < deadline, "the worker never took SIGTERM"
            time.sleep(0.002)
        # Taken before the SDK was loaded (read after the mask: loaded later, if at all).
        assert not _sdk_loaded(worker.pid), "SIGTERM was taken only after the imports"
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=HANG_BOUND_SECONDS)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert worker.returncode == 0, output
    assert "worker: stopped while starting; it had taken no task" in output
    assert "worker: polling" not in output
