"""``python -m starter replay [--since 7d] [--limit-per-type N]``: a deploy gate.

Fetches recent histories of every workflow type this code registers (TicketWorkflow,
OrchestratorWorkflow, SubTaskWorkflow, SwarmWorkflow, SwarmChunkWorkflow, BatchWorkflow, and the
providers' ProviderRateController) from the server and replays each against the code of this
checkout with the SDK's ``Replayer``, set up as the workers are (the project's data converter
with its key ring and payload store, the tracing plugin). A workflow change that would break
running workflows (a command added, removed or reordered without ``workflow.patched``) fails
here, naming the workflow, instead of failing the workflow tasks of live tickets after the
deploy. Exit code 1 on any failure.

"Recent" is: started within ``--since``, or still running whenever it started (a ticket waiting
a week for review is exactly what a deploy must not break). The newest ``--limit-per-type`` of
each type are replayed.
"""

import argparse
import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.client import Client, WorkflowHistory
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer

from shared import telemetry
from shared.data_converter import reading_only
from starter import render
from starter.connection import open_client
from starter.durations import describe_duration
from starter.errors import EXIT_OK, CliError
from workflows import ALL_WORKFLOWS

DEFAULT_SINCE: Final = timedelta(days=7)
DEFAULT_LIMIT_PER_TYPE: Final = 100
MAX_LIMIT_PER_TYPE: Final = 10_000
# Histories fetched at once; replay itself runs one at a time.
FETCH_CONCURRENCY: Final = 8
# Enough of the error to recognise it.
ERROR_CHARS: Final = 300
_CORE_MESSAGE: Final = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


class ReplayFailure(BaseModel):
    workflow_type: str
    workflow_id: str
    run_id: str
    error: str


class ReplayReport(BaseModel):
    since: datetime
    limit_per_type: int
    replayed: dict[str, int] = Field(default_factory=dict)  # by workflow type
    failures: list[ReplayFailure] = Field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


def workflow_type_names(workflows: Sequence[type]) -> list[str]:
    return [workflow._Definition.must_from_class(w).name or w.__name__ for w in workflows]


def recent_query(workflow_type: str, since: datetime) -> str:
    # Workflow type names come from our own classes, not from input; the time is formatted here.
    at = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"WorkflowType = '{workflow_type}' AND (StartTime >= '{at}' OR ExecutionStatus = 'Running')"
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


async def _histories(
    client: Client, query: str, limit: int
) -> list[tuple[str, str, WorkflowHistory | BaseException]]:
    executions = [e async for e in client.list_workflows(query, limit=limit)]
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def fetch(workflow_id: str, run_id: str) -> WorkflowHistory | BaseException:
        async with gate:
            try:
                return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            except Exception as err:  # deleted meanwhile, or the server failed: reported
                return err

    found = await asyncio.gather(*(fetch(e.id, e.run_id) for e in executions))
    return [(e.id, e.run_id, h) for e, h in zip(executions, found, strict=True)]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    # The core wraps the reason in its failure structure: keep the reason.
    if found := _CORE_MESSAGE.search(text):
        text = found.group(1)
    return text[:ERROR_CHARS]


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
    for workflow_type in workflow_type_names(workflows):
        report.replayed[workflow_type] = 0
        fetched = await _histories(client, recent_query(workflow_type, start), limit_per_type)
        histories: list[WorkflowHistory] = []
        for workflow_id, run_id, history in fetched:
            if isinstance(history, BaseException):
                error = f"could not fetch the history: {_one_line(history)}"
                report.failures.append(
                    ReplayFailure(
                        workflow_type=workflow_type,
                        workflow_id=workflow_id,
                        run_id=run_id,
                        error=error,
                    )
                )
            else:
                histories.append(history)
        # One replay worker for all of them: far faster than one per history.
        async with replayer.workflow_replay_iterator(_each(histories)) as results:
            async for result in results:
                report.replayed[workflow_type] += 1
                if result.replay_failure is None:
                    continue
                failure = result.replay_failure
                report.failures.append(
                    ReplayFailure(
                        workflow_type=workflow_type,
                        workflow_id=result.history.workflow_id,
                        run_id=result.history.run_id,
                        error=f"{type(failure).__name__}: {_one_line(failure)}",
                    )
                )
    return report


async def _each(histories: Sequence[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for history in histories:
        yield history


def print_report(report: ReplayReport, since: timedelta) -> None:
    out = render.console()
    out.print(
        f"Replayed {report.total} history(ies) started in the last {describe_duration(since)} "
        f"or still running (at most {report.limit_per_type} of each type) against this code:"
    )
    for workflow_type, count in report.replayed.items():
        failed = sum(f.workflow_type == workflow_type for f in report.failures)
        note = f"  [red]{failed} failed[/red]" if failed else ""
        out.print(f"  {workflow_type:<22} {count:>6}{note}")
    if not report.failures:
        out.print("Every history replays on this code: no non-deterministic change.")
        return
    out.print(f"[red]NOT replayable on this code[/red] ({len(report.failures)}):")
    for f in report.failures:
        out.print(f"  {f.workflow_type} {f.workflow_id} (run {f.run_id}): {f.error}")


async def run_replay(args: argparse.Namespace, workflows: Sequence[type] = ALL_WORKFLOWS) -> int:
    if not 1 <= args.limit_per_type <= MAX_LIMIT_PER_TYPE:
        raise CliError(f"--limit-per-type must be between 1 and {MAX_LIMIT_PER_TYPE:,}")
    client = await open_client()
    report = await replay_recent(client, args.since, args.limit_per_type, workflows)
    if args.json:
        render.print_json(report)
    else:
        print_report(report, args.since)
    if report.failures:
        raise CliError(
            f"{len(report.failures)} workflow history(ies) do not replay on this code: a deploy "
            "would break them (add workflow.patched or use worker versioning: docs/deploy.md)"
        )
    return EXIT_OK
