"""``python -m starter replay [--since 7d] [--limit-per-type N]``: a deploy gate.

Fetches recent histories of every workflow type this code registers (TicketWorkflow,
OrchestratorWorkflow, SubTaskWorkflow, SwarmWorkflow, SwarmChunkWorkflow, BatchWorkflow, and the
providers' ProviderRateController) from the server and replays each against the code of this
checkout with the SDK's ``Replayer``, set up as the workers are (the project's data converter
with its key ring and payload store, the tracing plugin). A workflow change that would break
running workflows (a command added, removed or reordered without ``workflow.patched``) fails
here, naming the workflow, instead of failing the workflow tasks of live tickets after the
deploy. Exit code 1 on any failure.

Replayed, for each type: first the running executions, whenever they started (a ticket waiting
a week for review is exactly what a deploy must not break), then the closed ones started within
``--since``; each group has its own query and its own ``--limit-per-type``, so recent closed
workflows never take the running ones' places, nor the other way round. When more run than the
limit, one of each set of versions they recorded (the ``TemporalChangeVersion`` search attribute:
the patches their histories hold) goes first, the oldest of each, then the newest: the server
lists newest first, and the newest alone left out the old ones most likely to break. Histories
stream into the replayer as they are fetched, a few ahead of it: memory holds a handful, not
every history of a type.
"""

import argparse
import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.common import SearchAttributeKey
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from shared import telemetry
from shared.data_converter import reading_only
from starter import render
from starter.connection import open_client
from starter.errors import EXIT_OK, CliError
from starter.replay_payloads import one_line, unreadable_payload
from starter.replay_report import (
    UNREADABLE_PREFIX,
    ReplayFailure,
    ReplayReport,
    gate_problems,
    print_report,
)
from workflows import ALL_WORKFLOWS

DEFAULT_SINCE: Final = timedelta(days=7)
DEFAULT_LIMIT_PER_TYPE: Final = 100
MAX_LIMIT_PER_TYPE: Final = 10_000
# Histories fetched at once, ahead of the replay (which runs one at a time): at most this many
# are held in memory besides the one replaying.
FETCH_CONCURRENCY: Final = 8
# The search attribute the SDK keeps each execution's patch ids in.
CHANGE_VERSION: Final = SearchAttributeKey.for_keyword_list("TemporalChangeVersion")


# The SDK's loggers that print a failed activation's traceback: the report says each failure.
SDK_ACTIVATION_LOGGERS: Final = (
    "temporalio.worker._workflow",
    "temporalio.worker._workflow_instance",
)


def note_fetch_failure(
    report: ReplayReport, workflow_type: str, execution: WorkflowExecution, err: BaseException
) -> None:
    """A listed history that could not be fetched: gone meanwhile (deleted, past retention),
    nothing a deploy could break; else not replayed, and said. It was taken for a
    non-deterministic change "a deploy would break": a false block with the wrong advice."""
    if isinstance(err, RPCError) and err.status == RPCStatusCode.NOT_FOUND:
        report.gone += 1
        return
    report.failures.append(
        ReplayFailure(
            workflow_type=workflow_type,
            workflow_id=execution.id,
            run_id=execution.run_id,
            error=f"could not fetch the history: {one_line(err)}",
            not_fetched=True,
        )
    )


def workflow_type_names(workflows: Sequence[type]) -> list[str]:
    return [workflow._Definition.must_from_class(w).name or w.__name__ for w in workflows]


def running_query(workflow_type: str) -> str:
    # Workflow type names come from our own classes, not from input.
    return f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"


def recent_closed_query(workflow_type: str, since: datetime) -> str:
    # The time is formatted here.
    at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"WorkflowType = '{workflow_type}' AND StartTime >= '{at}' AND ExecutionStatus != 'Running'"
    )


def new_replayer(client: Client, workflows: Sequence[type]) -> Replayer:
    """As the workers run them: the client's data converter (key ring, payload store) and the
    tracing plugin (which must add no command). The converter reads stored payloads but stores
    none: the commands a replay makes go nowhere (shared.data_converter.reading_only)."""
    return Replayer(
        workflows=list(workflows),
        data_converter=reading_only(client.data_converter),
        plugins=telemetry.client_plugins(),
        runtime=quiet_runtime(),
    )


def quiet_runtime() -> Runtime:
    """The SDK core logs every failed replay at WARN on standard output; the report says it
    once, and ``--json`` output must stay JSON."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))


FetchFailed = Callable[[WorkflowExecution, BaseException], None]


def _versions(execution: WorkflowExecution) -> tuple[str, ...]:
    return tuple(sorted(execution.typed_search_attributes.get(CHANGE_VERSION) or ()))


class RunningChoice:
    """Which running executions to replay, chosen while the server lists them (newest first):
    the oldest of each set of recorded versions, then the newest, at most ``limit``. It holds
    the newest ``limit`` and one execution per version set, whatever the number listed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.listed = 0
        self.newest: list[WorkflowExecution] = []
        # Per version set, its oldest execution so far (the last listed) and its place.
        self.oldest: dict[tuple[str, ...], tuple[int, WorkflowExecution]] = {}

    def add(self, execution: WorkflowExecution) -> None:
        if len(self.newest) < self.limit:
            self.newest.append(execution)
        self.oldest[_versions(execution)] = (self.listed, execution)
        self.listed += 1

    def chosen(self) -> list[WorkflowExecution]:
        by_age = [e for _, e in sorted(self.oldest.values(), key=lambda p: -p[0])]
        chosen: list[WorkflowExecution] = []
        taken: set[tuple[str, str | None]] = set()
        for execution in [*by_age, *self.newest]:
            key = (execution.id, execution.run_id)
            if len(chosen) < self.limit and key not in taken:
                taken.add(key)
                chosen.append(execution)
        return chosen


async def _running(client: Client, workflow_type: str, limit: int) -> list[WorkflowExecution]:
    choice = RunningChoice(limit)
    async for execution in client.list_workflows(running_query(workflow_type)):
        choice.add(execution)
    return choice.chosen()


async def _listed(client: Client, query: str, limit: int) -> AsyncIterator[WorkflowExecution]:
    async for execution in client.list_workflows(query, limit=limit):
        yield execution


async def _iterate(executions: list[WorkflowExecution]) -> AsyncIterator[WorkflowExecution]:
    for execution in executions:
        yield execution


async def _histories(
    client: Client,
    sources: Sequence[AsyncIterator[WorkflowExecution]],
    fetch_failed: FetchFailed,
) -> AsyncIterator[WorkflowHistory]:
    """The histories of the executions each source lists, in that order, fetched up to
    FETCH_CONCURRENCY ahead of the consumer; one that cannot be fetched goes to
    ``fetch_failed`` instead."""

    async def fetch(execution: WorkflowExecution) -> WorkflowHistory | BaseException:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            return await handle.fetch_history()
        except Exception as err:  # deleted meanwhile, or the server failed: reported
            return err

    ahead: deque[tuple[WorkflowExecution, asyncio.Task[WorkflowHistory | BaseException]]]
    ahead = deque()
    try:
        for source in sources:
            async for execution in source:
                ahead.append((execution, asyncio.create_task(fetch(execution))))
                while len(ahead) >= FETCH_CONCURRENCY:
                    if (history := await _first(ahead, fetch_failed)) is not None:
                        yield history
        while ahead:
            if (history := await _first(ahead, fetch_failed)) is not None:
                yield history
    finally:
        for _, task in ahead:
            task.cancel()


async def _first(
    ahead: deque[tuple[WorkflowExecution, asyncio.Task[WorkflowHistory | BaseException]]],
    fetch_failed: FetchFailed,
) -> WorkflowHistory | None:
    execution, task = ahead.popleft()
    history = await task
    if isinstance(history, BaseException):
        fetch_failed(execution, history)
        return None
    return history


async def replay_recent(
    client: Client,
    since: timedelta = DEFAULT_SINCE,
    limit_per_type: int = DEFAULT_LIMIT_PER_TYPE,
    workflows: Sequence[type] = ALL_WORKFLOWS,
) -> ReplayReport:
    """Replay the recent histories of each type in ``workflows`` against those classes."""
    start = datetime.now(UTC) - since
    report = ReplayReport(since=start, limit_per_type=limit_per_type)
    replayer = new_replayer(client, workflows)
    converter = reading_only(client.data_converter)
    for workflow_type in workflow_type_names(workflows):
        report.replayed[workflow_type] = 0
        report.running[workflow_type] = 0

        def fetch_failed(execution: WorkflowExecution, err: BaseException, t: str = workflow_type):
            note_fetch_failure(report, t, execution, err)

        running = await _running(client, workflow_type, limit_per_type)
        sources = [
            _iterate(running),
            _listed(client, recent_closed_query(workflow_type, start), limit_per_type),
        ]
        histories = _histories(client, sources, fetch_failed)
        # One replay worker for all of them: far faster than one per history.
        async with replayer.workflow_replay_iterator(histories) as results:
            async for result in results:
                report.replayed[workflow_type] += 1
                if _was_running(result.history):
                    report.running[workflow_type] += 1
                if result.replay_failure is None:
                    continue
                failure = result.replay_failure
                cause = await unreadable_payload(converter, result.history)
                report.failures.append(
                    ReplayFailure(
                        workflow_type=workflow_type,
                        workflow_id=result.history.workflow_id,
                        run_id=result.history.run_id,
                        error=f"{type(failure).__name__}: {one_line(failure)}"
                        if cause is None
                        else f"{UNREADABLE_PREFIX}{cause}",
                        unreadable=cause is not None,
                    )
                )
    return report


def _was_running(history: WorkflowHistory) -> bool:
    """No close event at its end: the execution was running when its history was fetched."""
    if not history.events:
        return False
    return history.events[-1].event_type not in _CLOSE_EVENTS


_CLOSE_EVENTS: Final = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


async def run_replay(args: argparse.Namespace, workflows: Sequence[type] = ALL_WORKFLOWS) -> int:
    if not 1 <= args.limit_per_type <= MAX_LIMIT_PER_TYPE:
        raise CliError(f"--limit-per-type must be between 1 and {MAX_LIMIT_PER_TYPE:,}")
    client = await open_client()
    with _activation_logs_quiet():
        report = await replay_recent(client, args.since, args.limit_per_type, workflows)
    if args.json:
        render.print_json(report)
    else:
        print_report(report, args.since)
    allow_empty = bool(getattr(args, "allow_empty", False))
    said = gate_problems(report, args.since, client.namespace, allow_empty)
    if said:
        raise CliError("; ".join(said))
    return EXIT_OK


@contextlib.contextmanager
def _activation_logs_quiet() -> Iterator[None]:
    """The SDK logs each failed activation with its traceback (40 lines a history): the report
    names each failure once."""
    loggers = [logging.getLogger(name) for name in SDK_ACTIVATION_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
