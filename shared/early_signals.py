"""A stop asked before the worker's event loop takes its signals: recorded, not lost.

The worker installs its SIGINT/SIGTERM handlers on the event loop, after importing the SDK, the
providers' SDKs and pydantic (a second or more). In a container whose process is PID 1 with no
init (a Kubernetes pod without ``shareProcessNamespace``; compose sets ``init: true``), a
SIGTERM with no handler is dropped by the kernel: a pod deleted in its first seconds went on to
poll, took agent calls and deliveries, and was killed mid-work when the grace period ran out.
Elsewhere the default action ended the process at once, which was harmless. Standard library
only: it runs before any dependency is imported.
"""

import signal
from types import FrameType

_received: list[int] = []


def catch_early_stops() -> None:
    """Record SIGINT and SIGTERM from now until the event loop takes them over."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _record)


def _record(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)


def early_stop() -> int | None:
    """The first signal received before the loop took them over, or None."""
    return _received[0] if _received else None


def release_early_stops() -> int | None:
    """Give SIGINT and SIGTERM back their default handling (for a run with no event loop to take
    them, such as ``--check-config``: recorded, they were ignored), and the first one received
    meanwhile, or None."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return early_stop()
