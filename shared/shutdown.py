"""How long a stopping worker lets its in-flight activities finish.

When a worker is asked to stop (SIGTERM from a deploy, ``docker compose stop``, Ctrl-C), it stops
polling at once and gives the activities it is running this long to finish before the SDK cancels
them. An agent call already made is paid for: cutting it wastes the tokens and makes another
worker start the call again. So the default is the longest an agent attempt may run (the agents'
start-to-close timeout, ``[agent_timeouts]``; Temporal itself gives up on the attempt then, so
waiting longer is pointless), or the delivery attempt's limit if that is longer, plus a margin to
report the result. The SDK returns as soon as nothing is in flight: an idle worker stops at once.

TICKETS_SHUTDOWN_GRACE_SECONDS sets it explicitly (tests use a few seconds). Whatever supervises
the worker must wait at least this long before it kills the process (docker compose:
``stop_grace_period``; Kubernetes: ``terminationGracePeriodSeconds``).

``run_until_stopped`` runs a process's workers until the stop (or one's failure) and shuts
them all down together; ``stopping`` is the signal handler (a second signal stops at once);
``until_stopped_or_done`` ends a worker still starting when the stop comes.
"""

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from temporalio.worker import Worker

from shared.pipeline_config import PipelineConfig
from shared.settings import ConfigError
from workflows.options import DELIVERY_START_TO_CLOSE

SHUTDOWN_GRACE_ENV: Final = "TICKETS_SHUTDOWN_GRACE_SECONDS"
# Past the longest attempt: time to send its result to the server and close the clients.
SHUTDOWN_MARGIN: Final = timedelta(seconds=5)
# An hour is longer than any attempt this product schedules; more is a typo.
MAX_SHUTDOWN_GRACE: Final = timedelta(hours=1)
# The shell's code for a process ended by SIGINT: a second signal's exit, without the grace.
EXIT_FORCED: Final = 130


def longest_attempt(config: PipelineConfig) -> timedelta:
    """The longest an activity this worker runs may still usefully be working when it is asked
    to stop: an agent attempt (its start-to-close timeout; every provider's request timeout stays
    below it, and Temporal times the attempt out there) or a delivery attempt."""
    agent = timedelta(seconds=config.agent_timeouts.start_to_close_seconds)
    return max(agent, DELIVERY_START_TO_CLOSE)


def shutdown_grace(config: PipelineConfig, env: Mapping[str, str] | None = None) -> timedelta:
    """TICKETS_SHUTDOWN_GRACE_SECONDS when set, else the longest attempt plus a margin, at most
    MAX_SHUTDOWN_GRACE either way (an agent attempt may be given a day; a stop that waited a day
    for it is no stop, and an explicit day was refused as a typo)."""
    env = os.environ if env is None else env
    raw = (env.get(SHUTDOWN_GRACE_ENV) or "").strip()
    if not raw:
        return min(longest_attempt(config) + SHUTDOWN_MARGIN, MAX_SHUTDOWN_GRACE)
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(
            f"{SHUTDOWN_GRACE_ENV} must be a number of seconds, got {raw!r}"
        ) from None
    limit = MAX_SHUTDOWN_GRACE.total_seconds()
    if not 0 <= seconds <= limit:
        raise ConfigError(f"{SHUTDOWN_GRACE_ENV} must be between 0 and {limit:g}, got {raw}")
    return timedelta(seconds=seconds)


async def run_until_stopped(
    workers: Sequence[Worker],
    stop: asyncio.Event,
    on_stop: Callable[[], None] | None = None,
    failed: asyncio.Event | None = None,
) -> BaseException | None:
    """Run every worker until ``stop`` is set or one of them fails; then shut all down together
    (each gets the graceful-shutdown time for its in-flight activities). ``on_stop`` is called
    first when the stop was asked (the health endpoint starts saying "draining"); not when a
    worker failed, so /healthz says so (503) while the others drain, instead of 200 and
    "draining" for up to the grace period. ``failed``: set by the workers' ``on_fatal_error``
    (build_workers), which the SDK calls before its failed worker drains its activities and its
    run returns: the others were left taking new work for that grace, then given another."""
    runs = [asyncio.create_task(w.run()) for w in workers]
    stopped = asyncio.create_task(stop.wait())
    waits = [stopped] + ([asyncio.create_task(failed.wait())] if failed is not None else [])
    await asyncio.wait([*runs, *waits], return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()
    if on_stop is not None and stop.is_set():
        on_stop()
    # Every worker, running or not yet: a stop that came while they were still validating
    # (startup: a pod deleted during a rollout) asked none of them, they started polling, and
    # the process ran until killed. The SDK allows shutdown before the start; it then ends it.
    # Not one whose run has ended already: the SDK's shutdown waits for its run to finish, and
    # one that failed before it began (in our own code before the SDK's) waited for ever.
    await asyncio.gather(
        *(w.shutdown() for w, run in zip(workers, runs, strict=True) if not run.done()),
        return_exceptions=True,
    )
    results = await asyncio.gather(*runs, return_exceptions=True)
    return next((r for r in results if isinstance(r, BaseException)), None)


# A signal of the other kind this soon after the first is the same request to stop: a terminal's
# Ctrl-C reaches every process of its group, and `make run`'s starter, stopping its worker
# right after, sent SIGTERM within milliseconds, which stopped the worker at once (no grace).
SAME_REQUEST_SECONDS: Final = 2.0


@dataclass
class _FirstSignal:
    signum: int | None = None
    at: float = 0.0
    echoed: bool = False  # the one signal of the other kind taken as the same request


_first = _FirstSignal()


def stopping(stop: asyncio.Event, signum: int | None = None) -> None:
    """The first SIGINT or SIGTERM stops the worker gracefully (calls in flight get the grace
    period); a second one stops it at once: Ctrl-C again, with a model call in flight, waited
    the whole grace (125 s) and only kill -9 from another shell ended it. A signal of the other
    kind within SAME_REQUEST_SECONDS of the first is the same request, not a second one (once).
    """
    now = time.monotonic()
    if not stop.is_set():
        _first.signum, _first.at, _first.echoed = signum, now, False
        stop.set()
        return
    soon = now - _first.at < SAME_REQUEST_SECONDS
    if signum is not None and signum != _first.signum and soon and not _first.echoed:
        _first.echoed = True
        return
    print("worker: stopping now; calls in flight are retried elsewhere", file=sys.stderr)
    _flush_spans_briefly()
    os._exit(EXIT_FORCED)


# How long a forced stop gives the spans still buffered (those of the calls it abandons).
FORCED_FLUSH_MILLIS: Final = 300


def _flush_spans_briefly() -> None:
    """The buffered spans, within FORCED_FLUSH_MILLIS: os._exit skips the exit's own flush, and
    a forced stop lost every span not yet exported, the abandoned calls' among them."""
    try:
        from shared import telemetry_exit

        telemetry_exit.flush(FORCED_FLUSH_MILLIS)
    except Exception as err:  # stopping at once whatever the exporter does
        print(f"worker: spans not flushed: {type(err).__name__}", file=sys.stderr)


async def until_stopped_or_done(
    life: Coroutine[Any, Any, int], stop: asyncio.Event, polling: asyncio.Event
) -> int:
    """``life``'s exit code; a stop asked before it polls ends it there. The checks, the stores,
    Temporal's connection and the search attributes looked at no stop: a provider that accepted
    connections and never answered held a SIGTERM for its whole timeout (90 s), after which the
    worker began polling and starting rate controllers before it stopped."""
    living = asyncio.ensure_future(life)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({living, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if living.done() or polling.is_set():
        return await living  # polling: its own stop gives work in flight the grace
    living.cancel()  # the finally blocks close what it opened
    with contextlib.suppress(asyncio.CancelledError):
        await living
    print("worker: stopped while starting; it had taken no task", flush=True)
    return 0
