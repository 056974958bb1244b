"""Child processes (the embedded server, the worker) with their output appended to a log file."""

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def spawn_logged(
    command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> "subprocess.Popen[bytes]":
    """Blocking (fork/exec and file I/O): call it through ``asyncio.to_thread`` from async code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
        )
