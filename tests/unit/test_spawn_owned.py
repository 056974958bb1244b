"""A child process whose start the caller gave up on (cancelled while the thread spawned it) is
killed, not left running unowned: `make run` stopped in that instant left the server (its port
and its database lock) or the worker running, which the next `make run` quietly used."""

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from starter import spawn


async def test_a_start_cancelled_while_spawning_kills_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[subprocess.Popen[bytes]] = []
    spawning, spawned_one = threading.Event(), threading.Event()
    real = spawn.spawn_logged

    def slow_spawn(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        spawning.set()
        threading.Event().wait(0.5)  # fork and exec taking their time
        process = real([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
        started.append(process)
        spawned_one.set()
        return process

    monkeypatch.setattr(spawn, "spawn_logged", slow_spawn)
    starting = asyncio.create_task(spawn.spawned(["ignored"], tmp_path / "log"))
    await asyncio.to_thread(spawning.wait, 10)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await asyncio.to_thread(spawned_one.wait, 10)  # the thread went on to start it

    [process] = started
    try:
        assert process.poll() is not None, "the process was left running"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
