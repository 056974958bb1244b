"""What every benchmark prints first: the commit it ran on, the machine's cores and its load, so
a figure is never read without the conditions it was measured in; and the load again at its
end."""

import os
import subprocess
from pathlib import Path

from bench.dataset import PROJECT_ROOT


def commit() -> str:
    """The short commit hash, marked ``+changes`` when the work tree differs from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            # Untracked files too: a run importing a module not yet committed is no commit's.
            ["git", "status", "--porcelain"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{sha}{' +changes' if dirty else ''}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def cores() -> int:
    """The cores this process may run on (its affinity, which a container's cpuset sets), not
    the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def header() -> str:
    return f"commit {commit()}, {cores()} cores, load average (1/5/15 min) {load()}"


def print_header() -> None:
    print(header(), flush=True)


def print_footer() -> None:
    """The load when the benchmark ended: its own processes are in it (a benchmark that keeps
    both cores busy ends near 2), so read it for what the start's did not show, another job
    that began meanwhile (a load well above what the benchmark alone makes)."""
    print(f"load average at the end (1/5/15 min) {load()}", flush=True)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0 where unreadable)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
