"""A child process whose start the caller gave up on (cancelled while the thread spawned it) is
killed, not left running unowned: `make run` stopped in that instant left the server (its port
and its database lock) or the worker running, which the next `make run` quietly used."""

import asyncio
import os
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
    spawning, proceed, spawned_one = threading.Event(), threading.Event(), threading.Event()
    real = spawn.spawn_logged

    def slow_spawn(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        spawning.set()
        proceed.wait(10)  # fork and exec taking their time: until the start is cancelled
        process = real([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log")
        started.append(process)
        spawned_one.set()
        return process

    monkeypatch.setattr(spawn, "spawn_logged", slow_spawn)
    starting = asyncio.create_task(spawn.spawned(["ignored"], tmp_path / "log"))
    await asyncio.to_thread(spawning.wait, 10)
    starting.cancel()
    await asyncio.sleep(0)  # one turn: the start takes its cancellation
    proceed.set()
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


def test_a_child_of_its_own_group_is_out_of_the_terminal_s_reach(tmp_path: Path) -> None:
    # A terminal's Ctrl-C reaches its foreground group: the embedded server stopped at once,
    # while the worker was still letting its in-flight calls finish and report.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    alone = spawn.spawn_logged(sleeper, tmp_path / "log", own_group=True)
    shared = spawn.spawn_logged(sleeper, tmp_path / "log")
    try:
        assert os.getpgid(alone.pid) == alone.pid != os.getpgid(0)
        assert os.getpgid(shared.pid) == os.getpgid(0)
    finally:
        for process in (alone, shared):
            process.kill()
            process.wait(10)
        spawn.forget(alone)


def test_one_left_running_on_the_way_out_is_stopped_unless_kept(tmp_path: Path) -> None:
    # A second Ctrl-C while the job stopped its worker ended it before it stopped the server,
    # which, out of the terminal's group, would have run on unowned.
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    with spawn.left_behind_stopped():
        left = spawn.spawn_logged(sleeper, tmp_path / "log", own_group=True)
        kept = spawn.spawn_logged(sleeper, tmp_path / "log", own_group=True)
        spawn.forget(kept)  # make run --keep-running
    try:
        assert left.poll() is not None
        assert kept.poll() is None
    finally:
        for process in (left, kept):
            if process.poll() is None:
                process.kill()
            process.wait(10)


def test_the_cli_stops_what_it_left_running_whatever_ends_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from starter import cli

    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    # Started before the command (a test session's server in this process): not its to stop.
    earlier = spawn.spawn_logged(sleeper, tmp_path / "log", own_group=True)
    left: list[subprocess.Popen[bytes]] = []

    async def interrupted(args: object) -> int:
        left.append(spawn.spawn_logged(sleeper, tmp_path / "log", own_group=True))
        raise KeyboardInterrupt

    parser = cli.build_parser()
    real_parse = parser.parse_args

    def parse(argv: object = None) -> object:
        args = real_parse(["status", "T-1"])
        args.handler = interrupted
        return args

    monkeypatch.setattr(parser, "parse_args", parse)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    try:
        assert cli.main([]) == 130
        assert capsys.readouterr().err.startswith("interrupted: what was already sent")
        assert left and left[0].poll() is not None
        assert earlier.poll() is None
    finally:
        for process in (earlier, *left):
            if process.poll() is None:
                process.kill()
            process.wait(10)
        spawn.forget(earlier)
