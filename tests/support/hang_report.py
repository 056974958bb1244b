"""What a test that hangs was waiting for, written where a parallel run shows it.

pytest-timeout (``timeout_method = "thread"``) ends a process whose test outlives its limit, and
dumps the threads' stacks first, but through pytest's terminal, which a pytest-xdist worker
does not show: a CI run said only "worker 'gw1' crashed while running ...". Those stacks also
say little about an ``async`` test: its thread waits in the event loop's ``select``. So, two
seconds before the limit, this writes every thread's stack and every unfinished asyncio task's
(the awaits that hang) to the stderr pytest kept for fault reports, which each worker shares
with the run's own.
"""

import asyncio
import faulthandler
import os
import threading
from typing import Any

import pytest
from _pytest.faulthandler import fault_handler_stderr_fd_key

# How long before the test's limit the report is written.
BEFORE_LIMIT_SECONDS = 2.0
_timers: dict[str, threading.Timer] = {}


def _write(fd: int, text: str) -> None:
    os.write(fd, text.encode("utf-8", "replace"))


def _report(nodeid: str, limit: float, fd: int) -> None:
    _write(fd, f"\n+++ {nodeid} is near its {limit:g} s limit: threads, then asyncio tasks +++\n")
    faulthandler.dump_traceback(file=fd, all_threads=True)
    for task in _unfinished_tasks():
        _write(fd, f"task {task.get_name()}: {' -> '.join(_awaits(task.get_coro()))}\n")
    _write(fd, f"+++ end of the report for {nodeid} +++\n")


def _unfinished_tasks() -> list["asyncio.Task[Any]"]:
    """Every unfinished task of every loop, read from another thread (``asyncio.all_tasks``
    needs the loop's own): asyncio's registry of them, ``_all_tasks`` in Python 3.11,
    ``_scheduled_tasks`` and ``_eager_tasks`` since 3.12. Best effort: a report, not a test."""
    found: list[asyncio.Task[Any]] = []
    for name in ("_all_tasks", "_scheduled_tasks", "_eager_tasks"):
        registry = getattr(asyncio.tasks, name, None)
        for _attempt in range(3):  # the loop's thread may change the set while it is read
            try:
                found += [t for t in list(registry or ()) if not t.done()]
                break
            except RuntimeError:
                continue
    return found


def _awaits(awaitable: Any) -> list[str]:
    """Where a task waits: its coroutine, the coroutine that one awaits, and so on down to the
    future at the bottom (``Task.get_stack`` gives the top frame only)."""
    chain: list[str] = []
    while awaitable is not None and len(chain) < 50:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            chain.append(type(awaitable).__name__)
            break
        code = frame.f_code
        chain.append(f"{code.co_name} ({os.path.basename(code.co_filename)}:{frame.f_lineno})")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return chain


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> None:
    limit = settings.timeout
    fd = item.config.stash.get(fault_handler_stderr_fd_key, None)
    if not limit or limit <= BEFORE_LIMIT_SECONDS or fd is None:
        return None
    timer = threading.Timer(limit - BEFORE_LIMIT_SECONDS, _report, (item.nodeid, limit, fd))
    timer.daemon = True
    _timers[item.nodeid] = timer
    timer.start()
    return None  # pytest-timeout sets its own timer as well


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> None:
    if (timer := _timers.pop(item.nodeid, None)) is not None:
        timer.cancel()
    return None
