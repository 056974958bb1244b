"""The SDK core's warnings reach the worker's log as Python log lines, without terminal colour
codes: a cluster walk-through found them in a log file with ANSI escapes (the core's console
writer colours them whatever the output is)."""

from pathlib import Path

import pytest

from starter.embedded import EmbeddedServer
from starter.worker_process import WorkerProcess
from tests.support.processes import free_port
from tests.support.temporal import wait_until

pytestmark = pytest.mark.integration


async def test_the_core_s_warnings_are_plain_log_lines_of_the_worker(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    await server.start()
    worker = WorkerProcess(tmp_path, server.address)
    try:
        await worker.start()
        await server.stop()  # the core retries its polls, and warns that it does

        def core_warning() -> str | None:
            text = worker.log_path.read_text(errors="replace")
            return text if "WARNING temporalio.core" in text else None

        log = await wait_until(core_warning, timeout=60, interval=0.5, what="a core warning")
    finally:
        await worker.stop()
        await server.stop()

    assert "gRPC call poll_" in log
    assert "\x1b[" not in log
