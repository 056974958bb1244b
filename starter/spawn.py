"""Child processes (the embedded server, the worker) with their output appended to a log file."""

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

# Children in a process group of their own (``own_group``: the embedded server). A terminal's
# Ctrl-C reaches its whole foreground group at once: the server stopped while the worker was
# still letting its in-flight calls finish (its grace), and their results, made and paid for,
# could not be reported. The caller stops such a child itself, after the worker; one left
# running when this process ends abruptly (a second Ctrl-C during the stop) is stopped on the
# way out (``left_behind_stopped``), as the terminal's signal would have.
_OWN_GROUP: "set[subprocess.Popen[bytes]]" = set()
# How long a child left behind gets to stop on the way out before it is killed.
LEFT_BEHIND_GRACE_SECONDS = 10


def spawn_logged(
    command: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    own_group: bool = False,
) -> "subprocess.Popen[bytes]":
    """Blocking (fork/exec and file I/O): call it through ``asyncio.to_thread`` from async code.
    ``pass_fds``: descriptors the process inherits (the embedded server's database lock);
    ``own_group``: out of the terminal's signals (above)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            pass_fds=tuple(pass_fds),
            process_group=0 if own_group else None,
        )
    if own_group:
        _OWN_GROUP.add(process)
    return process


def forget(process: "subprocess.Popen[bytes] | None") -> None:
    """Leave ``process`` running when this process ends (``make run --keep-running``)."""
    _OWN_GROUP.discard(process)  # type: ignore[arg-type]


@contextlib.contextmanager
def left_behind_stopped() -> Iterator[None]:
    """Stops, on the way out of the block, the children of a group of their own it started and
    left running; not those started before it (a test session's server, in this process)."""
    before = set(_OWN_GROUP)
    try:
        yield
    finally:
        stop_left_behind(keep=before)


def stop_left_behind(keep: "set[subprocess.Popen[bytes]] | None" = None) -> None:
    """Stop the children of a group of their own still running (SIGTERM, then SIGKILL), but
    those in ``keep``."""
    for process in list(_OWN_GROUP - (keep or set())):
        _stop_now(process, LEFT_BEHIND_GRACE_SECONDS)


async def spawned(
    command: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    own_group: bool = False,
) -> "subprocess.Popen[bytes]":
    """``spawn_logged`` off the event loop, owned even when the caller is cancelled meanwhile:
    the thread goes on to start the process, and its handle was lost, so `make run` stopped by
    SIGTERM in that instant left the server (its port and its database lock) or the worker
    running, unowned. Then the process is killed before the cancellation goes on."""
    spawning = asyncio.ensure_future(
        asyncio.to_thread(spawn_logged, command, log_path, env, pass_fds, own_group)
    )
    try:
        return await asyncio.shield(spawning)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            process = await spawning
            forget(process)
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        raise


def log_size(path: Path) -> int:
    """Where the next start's lines will begin in an appended log (0 when there is none yet)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def log_since(path: Path, offset: int, limit: int = -1) -> str:
    """What a process wrote to its appended log from ``offset`` (``limit`` bytes at most; all
    when -1), or "" when the log cannot be read."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return ""


# After SIGKILL, how long to wait for the process to be reaped.
KILL_WAIT_SECONDS = 5


async def stop_process(process: "subprocess.Popen[bytes] | None", grace: float) -> None:
    """SIGTERM, ``grace`` seconds to exit, then SIGKILL: how every child this client started
    is stopped (the server, the worker, the codec server)."""
    await asyncio.to_thread(_stop_now, process, grace)


def _stop_now(process: "subprocess.Popen[bytes] | None", grace: float) -> None:
    """Blocking: SIGTERM, ``grace`` seconds to exit, then SIGKILL; no longer this process's to
    stop on the way out either way."""
    forget(process)
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(KILL_WAIT_SECONDS)
