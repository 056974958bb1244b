"""How long stopping a worker child process (`make run`, the benchmarks) waits before it kills
it: the grace the worker itself said it gives its in-flight work, not a fixed 20 s that cut a
model call the worker's 125 s grace was letting finish."""

import asyncio
import subprocess
from pathlib import Path

import pytest

import starter.worker_process as worker_process
from starter.worker_process import STOP_MARGIN_SECONDS, UNSAID_GRACE_SECONDS, WorkerProcess

POLLING = (
    "worker: polling tickets, delivery, llm-offline; Ctrl-C to stop "
    "(in-flight work gets {grace}s to finish)\n"
)


def said(tmp_path: Path, text: str) -> WorkerProcess:
    worker = WorkerProcess(tmp_path, "127.0.0.1:7233", env={})
    (tmp_path / "worker.log").write_text(text)
    return worker


@pytest.mark.parametrize("grace", ["125", "2.5", "3600"])
def test_the_stop_waits_the_grace_the_worker_said_and_a_margin(tmp_path: Path, grace: str) -> None:
    worker = said(
        tmp_path, "worker: metrics on http://127.0.0.1:1/metrics\n" + POLLING.format(grace=grace)
    )
    assert worker.stop_wait() == float(grace) + STOP_MARGIN_SECONDS


def test_a_worker_that_never_said_its_grace_is_given_the_fixed_wait(tmp_path: Path) -> None:
    worker = said(tmp_path, "worker: configuration error: no such provider\n")
    assert worker.stop_wait() == UNSAID_GRACE_SECONDS


def test_stop_hands_that_wait_to_the_process_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def recorded(process: object, grace: float) -> None:
        waits.append(grace)

    monkeypatch.setattr(worker_process, "stop_process", recorded)
    worker = said(tmp_path, POLLING.format(grace="125"))
    child = subprocess.Popen(["true"])  # a child to stop; the stop itself is only recorded
    worker._process = child
    try:
        asyncio.run(worker.stop())
    finally:
        child.wait(10)
    assert waits == [125 + STOP_MARGIN_SECONDS]
