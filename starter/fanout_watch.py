"""Waiting for a fan-out run (a plan, a swarm, a batch): a progress bar until its result, the
checks that a worker polls what the run waits on (the tickets queue, the queue of a call it waits
for), and how a run that did not complete is said."""

import asyncio
import builtins
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from shared import names
from shared.history_references import UNQUOTABLE
from shared.pending_calls import PendingCall, pending_calls, stranded
from shared.queue_pollers import unrouted_hint, workers_polling
from shared.waiting import TRANSIENT_STATUSES, WORKER_CHECK_SECONDS
from starter import render
from starter.errors import CliError, NoWorker, WaitGaveUp

POLL_SECONDS = 0.5
ResultT = TypeVar("ResultT")


async def require_worker(client: Client, what: str) -> None:
    """NoWorker when no worker polls the tickets queue: before waiting for a run (it would sit
    at 0/? until its timeout, saying nothing), and while waiting (``watch``), as `submit
    --wait` checks."""
    try:
        polled = await workers_polling(client, names.TICKETS_TASK_QUEUE)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        return  # a server that cannot say (the SDK's time-skipping test server): not refused
    if not polled:
        raise NoWorker(
            f"no worker is polling the {names.TICKETS_TASK_QUEUE} task queue, so {what} would "
            "wait on the server until one starts: run `python -m worker` against this server "
            "and namespace" + await unrouted_hint(client, names.TICKETS_TASK_QUEUE)
        )


async def completed_before(client: Client, workflow_id: str) -> bool:
    """Whether the latest run under ``workflow_id`` completed: its result is in its history, so
    showing it needs no worker (a plan or swarm run again shows it, not a new run)."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status == WorkflowExecutionStatus.COMPLETED


async def stranded_call_under(client: Client, workflow_id: str) -> PendingCall | None:
    """An agent call of this run, or of one of its running children (a batch's ticket, a
    swarm's chunk, a plan's sub-task), that waits on a queue no worker polls and will not leave
    it (no fallback route to hand it to), or None. One child is looked at per check."""
    ids = [workflow_id]
    if not any(c in workflow_id for c in UNQUOTABLE):
        query = f"ParentWorkflowId = '{workflow_id}' AND ExecutionStatus = 'Running'"
        async for child in client.list_workflows(query, limit=1, page_size=1):
            ids.append(child.id)
    for described_id in ids:
        try:
            described = await client.get_workflow_handle(described_id).describe()
        except RPCError:
            continue  # closed meanwhile, or a passing error: the next check asks again
        pending = described.raw_description.pending_activities
        calls = await pending_calls(client, pending)
        if waiting := stranded(calls):
            return waiting
    return None


async def require_workers(client: Client, workflow_id: str, what: str) -> None:
    """NoWorker when no worker polls the tickets queue, or the queue where one of the run's
    agent calls waits (workers split by queue, the agents' down): `batch --wait` and the others
    waited on such a call in silence, where `submit --wait` names it."""
    await require_worker(client, what)
    if call := await stranded_call_under(client, workflow_id):
        raise NoWorker(
            f"no worker is polling the {call.task_queue} task queue, where a "
            f"{call.activity} call of {what} waits, so {what} waits until one starts: run "
            f"a worker that polls it (`python -m worker --queues {call.task_queue}`, or "
            "one without --queues)"
        )


async def watch(
    describe: Callable[[], Awaitable[tuple[int, int, str]]],
    done: asyncio.Future[Any],
    label: str,
    check_worker: Callable[[], Awaitable[None]] | None = None,
    timeout: float | None = None,
) -> None:
    """A progress bar fed by ``describe`` (completed, total, note) until ``done`` resolves; and
    every WORKER_CHECK_SECONDS ``check_worker``, whose NoWorker ends the wait (``done`` is then
    cancelled): with the worker gone after the start, `batch --wait` waited for ever, silent.
    ``timeout``: seconds after which the wait gives up (builtins.TimeoutError; ``done``
    cancelled, the run itself untouched)."""
    try:
        async with asyncio.timeout(timeout):
            await _progress_bar(describe, done, label, check_worker)
    except BaseException:
        done.cancel()
        raise


async def _progress_bar(
    describe: Callable[[], Awaitable[tuple[int, int, str]]],
    done: asyncio.Future[Any],
    label: str,
    check_worker: Callable[[], Awaitable[None]] | None,
) -> None:
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}", markup=False),
        TimeElapsedColumn(),
    )
    loop = asyncio.get_running_loop()
    next_check = loop.time() + WORKER_CHECK_SECONDS
    with Progress(*columns, console=render.console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None, note="")
        while not done.done():
            try:
                completed, total, note = await describe()
                bar.update(task, completed=completed, total=total or None, note=note)
            except (RPCError, WorkflowQueryFailedError):
                pass  # a progress query can miss while a run continues as new; try again
            if check_worker is not None and loop.time() >= next_check and not done.done():
                try:
                    await check_worker()
                except NoWorker:
                    if done.done():
                        break  # the run ended meanwhile (terminated, say): its own outcome
                    raise
                except RPCError as err:
                    # Advice, as `submit --wait`'s: a server that cannot answer it now is asked
                    # again at the next check.
                    if err.status not in TRANSIENT_STATUSES:
                        raise
                next_check = loop.time() + WORKER_CHECK_SECONDS
            await asyncio.wait({done}, timeout=POLL_SECONDS)
        if done.exception() is None:
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                completed, total, note = await describe()
                bar.update(task, completed=completed, total=total or None, note=note)


def ended_with_result(result: "asyncio.Future[Any]") -> bool:
    """Whether the wait for a run's result had its answer (a result or the run's failure)."""
    return result.done() and not result.cancelled()


def gave_up(what: str, workflow_id: str, timeout: float | None) -> WaitGaveUp:
    return WaitGaveUp(
        f"{what} is still running after {timeout or 0:g}s (--timeout): it goes on on the "
        f"server; the same command with --id {workflow_id} follows it again"
    )


async def watched(
    handle: WorkflowHandle[Any, ResultT],
    describe: Callable[[], Awaitable[tuple[int, int, str]]],
    label: str,
    what: str,
    failed: Callable[[WorkflowFailureError], None] | None = None,
    stopped: Callable[[], Awaitable[str]] | None = None,
    check_worker: Callable[[], Awaitable[None]] | None = None,
    timeout: float | None = None,
) -> ResultT:
    """The run's result, with a progress bar meanwhile; a run that failed is a CliError naming
    ``what`` and the cause, after ``failed`` has shown what the failure carries; one that was
    cancelled or terminated says what ``stopped`` adds (what it left running, what it spent).
    NoWorker once ``check_worker`` says so (``watch``)."""
    result = asyncio.ensure_future(handle.result())
    try:
        await watch(describe, result, label, check_worker, timeout)
    except builtins.TimeoutError:  # asyncio.timeout's, not the workflow's (temporalio's)
        # Not when the run had ended: the timeout can fire in the last progress query after it
        # (a closed run's query waits for a worker to replay it), and a finished run read as
        # "still running", exit 3.
        if timeout is None:
            raise
        if not ended_with_result(result):
            raise gave_up(what, handle.id, timeout) from None
    try:
        return await result
    except WorkflowFailureError as err:
        if failed is not None:
            failed(err)
        said = ended(what, err)
        if stopped is not None and isinstance(err.cause, CancelledError | TerminatedError):
            said += await stopped()
        raise CliError(said) from None


def ended(what: str, err: WorkflowFailureError) -> str:
    """How a run ended other than completed: cancelled or terminated by someone (it said
    "failed: Workflow cancelled"), or failed with the reason its workflow gave."""
    if isinstance(err.cause, TerminatedError):
        return f"{what} was terminated: {err.cause.message}"
    if isinstance(err.cause, CancelledError):
        return f"{what} was cancelled"
    return f"{what} failed: {_cause(err)}"


def _cause(err: WorkflowFailureError) -> str:
    cause = err.cause
    while isinstance(getattr(cause, "cause", None), Exception) and not isinstance(
        cause, ApplicationError
    ):
        cause = cause.cause  # type: ignore[union-attr]
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)
