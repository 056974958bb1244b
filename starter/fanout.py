"""The fan-out commands: `plan` (orchestrator-workers), `swarm` (one agent, many items) and
`batch` (many tickets as one workflow), with live progress."""

import argparse
import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from shared import names
from shared.batch import BatchProgress, BatchSettings, BatchState
from shared.command_budget import chunk_size_fitting, encoded_size
from shared.operations import fairness_keys
from shared.orchestration import (
    OrchestratorInput,
    OrchestratorProgress,
    OrchestratorResult,
)
from shared.swarm import (
    MAX_CHUNK_SIZE,
    SwarmItem,
    SwarmProgress,
    SwarmResult,
    SwarmSettings,
    SwarmState,
)
from shared.ticket_listing import ids_held_by_other_tickets
from shared.tickets import Ticket, content_digest
from starter import render
from starter.connection import open_client, warn_if_unencrypted
from starter.errors import EXIT_OK, EXIT_PARTIAL, CliError
from starter.inputs import read_jsonl, read_swarm_items
from starter.swarm_outputs import with_chunk_outputs, write_outputs

POLL_SECONDS = 0.5


def content_id(prefix: str, parts: list[str]) -> str:
    """The same input gives the same workflow id: resubmitting finds the earlier run."""
    return f"{prefix}-{input_digest(parts)[:12]}"


# The memo entry naming a fan-out run's input (a digest; continue-as-new keeps the memo): a
# start that finds a run under its id attaches to it only when it has the same input.
INPUT_DIGEST = "input_digest"


def input_digest(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def _same_input(client: Client, workflow_id: str, digest: str, what: str) -> None:
    """Refuse to follow the run under ``workflow_id`` when it is not this input's: the start
    found another run there (an --id reused, a batch file corrected while its first batch
    runs) and returned it without a word, so the new input was never submitted while the
    command reported it started and showed the other run's progress as its own."""
    described = await client.get_workflow_handle(workflow_id).describe()
    found = (await described.memo()).get(INPUT_DIGEST)
    if found is None:
        # A run started before runs recorded their input: it cannot be compared.
        render.console(stderr=True).print(
            f"note: {workflow_id} was started before runs recorded their input, so it cannot "
            "be compared with this one; following it (give another --id if it is not yours)"
        )
        return
    if found != digest:
        since = (
            f" (started {described.start_time:%Y-%m-%d %H:%M} UTC)" if described.start_time else ""
        )
        status = described.status.name.lower() if described.status else "there"
        raise CliError(
            f"{workflow_id} is {status} with other input{since}; this {what} was NOT "
            "submitted: give it another --id, or wait for that run to end"
        )


async def _watch(
    describe: Callable[[], Awaitable[tuple[int, int, str]]], done: asyncio.Future[Any], label: str
) -> None:
    """A progress bar fed by ``describe`` (completed, total, note) until ``done`` resolves."""
    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}", markup=False),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=render.console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None, note="")
        while not done.done():
            try:
                completed, total, note = await describe()
                bar.update(task, completed=completed, total=total or None, note=note)
            except (RPCError, WorkflowQueryFailedError):
                pass  # a progress query can miss while a run continues as new; try again
            await asyncio.wait({done}, timeout=POLL_SECONDS)
        if done.exception() is None:
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                completed, total, note = await describe()
                bar.update(task, completed=completed, total=total or None, note=note)


# ---- plan ----------------------------------------------------------------------------------------


async def run_plan(
    client: Client, task: str, run_id: str | None, wait: bool
) -> tuple[str, OrchestratorResult | None]:
    workflow_id = run_id or f"plan-{uuid.uuid4().hex[:10]}"
    digest = input_digest([task])
    handle = await client.start_workflow(
        names.ORCHESTRATOR_WORKFLOW,
        OrchestratorInput(task=task),
        id=workflow_id,
        task_queue=names.TICKETS_TASK_QUEUE,
        result_type=OrchestratorResult,
        static_summary=task[:200],
        memo={INPUT_DIGEST: digest},
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await _same_input(client, workflow_id, digest, "task")
    if not wait:
        return workflow_id, None
    result = asyncio.ensure_future(handle.result())

    async def describe() -> tuple[int, int, str]:
        p = await handle.query(names.PROGRESS_QUERY, result_type=OrchestratorProgress)
        total = len(p.plan.subtasks) if p.plan else 0
        return len(p.outcomes), total, p.phase

    await _watch(describe, result, "sub-tasks")
    try:
        return workflow_id, await result
    except WorkflowFailureError as err:
        raise CliError(f"the plan run {workflow_id} failed: {_cause(err)}") from None


def _cause(err: WorkflowFailureError) -> str:
    cause = err.cause
    while isinstance(getattr(cause, "cause", None), Exception) and not isinstance(
        cause, ApplicationError
    ):
        cause = cause.cause  # type: ignore[union-attr]
    return cause.message if isinstance(cause, ApplicationError) else str(cause or err)


# ---- swarm ---------------------------------------------------------------------------------------


async def run_swarm(
    client: Client, items: list[SwarmItem], settings: SwarmSettings, run_id: str | None
) -> tuple[str, SwarmResult]:
    parts = [f"{i.item_id}\x1e{i.text}" for i in items]
    digest = input_digest(parts)
    workflow_id = run_id or content_id("swarm", parts)
    try:
        handle: WorkflowHandle[Any, SwarmResult] = await client.start_workflow(
            names.SWARM_WORKFLOW,
            args=[items, SwarmState(settings=settings)],
            id=workflow_id,
            task_queue=names.TICKETS_TASK_QUEUE,
            result_type=SwarmResult,
            static_summary=f"{len(items)} items, {settings.concurrency} at a time",
            memo={INPUT_DIGEST: digest},
            # A run that failed may run again; one that completed is shown, not repeated.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        # The same items ran before: show that run's result rather than analysing them again
        # (other items under that id: refused).
        await _same_input(client, workflow_id, digest, "set of items")
        render.console(stderr=True).print(
            f"these items were analysed before ({workflow_id}); showing that run "
            "(use --id NEW to analyse them again)"
        )
        handle = client.get_workflow_handle(workflow_id, result_type=SwarmResult)
    else:
        await _same_input(client, workflow_id, digest, "set of items")
    result = asyncio.ensure_future(handle.result())

    async def describe() -> tuple[int, int, str]:
        p = await handle.query(names.PROGRESS_QUERY, result_type=SwarmProgress)
        done, failed = p.done, p.failed
        if p.running_chunk:
            try:
                chunk = await client.get_workflow_handle(p.running_chunk).query(
                    names.PROGRESS_QUERY, result_type=SwarmProgress
                )
                # The running chunk's items too, failures included (the parent counts a
                # chunk's failures only when it ends).
                done, failed = done + chunk.done, failed + chunk.failed
            except RPCError:
                pass
        return done, p.total, f"{failed} failed"

    await _watch(describe, result, "items")
    try:
        return workflow_id, await result
    except WorkflowFailureError as err:
        cause = err.cause
        details = cause.details if isinstance(cause, ApplicationError) else ()
        summary = SwarmResult.model_validate({**details[0], "outputs": []}) if details else None
        raise SwarmFailed(
            f"the swarm {workflow_id} failed: {_cause(err)}", workflow_id, summary
        ) from None


class SwarmFailed(CliError):
    """A swarm over its failure threshold: its error carries the summary (not the outputs)."""

    def __init__(self, message: str, workflow_id: str, summary: SwarmResult | None) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.summary = summary


# ---- batch ---------------------------------------------------------------------------------------


async def run_batch(
    client: Client, tickets: list[Ticket], settings: BatchSettings, run_id: str | None, wait: bool
) -> tuple[str, BatchProgress | None]:
    # Ids and content: a file corrected under the same ids is another batch.
    parts = [f"{t.ticket_id}\x1e{content_digest(t)}" for t in tickets]
    digest = input_digest(parts)
    workflow_id = run_id or content_id("batch", parts)
    handle: WorkflowHandle[Any, BatchProgress] = await client.start_workflow(
        names.BATCH_WORKFLOW,
        args=[tickets, BatchState(settings=settings, fairness_keys=fairness_keys(client, tickets))],
        id=workflow_id,
        task_queue=names.TICKETS_TASK_QUEUE,
        result_type=BatchProgress,
        static_summary=f"{len(tickets)} tickets, {settings.window} in flight",
        memo={INPUT_DIGEST: digest},
        # A batch that ran before may run again: its tickets exist, so it starts none of them.
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await _same_input(client, workflow_id, digest, "batch")
    if not wait:
        return workflow_id, None
    result = asyncio.ensure_future(handle.result())

    async def describe() -> tuple[int, int, str]:
        p = await handle.query(names.PROGRESS_QUERY, result_type=BatchProgress)
        return p.done, p.total, f"{p.in_flight} in flight, {p.already_known} already known"

    await _watch(describe, result, "tickets")
    try:
        return workflow_id, await result
    except WorkflowFailureError as err:
        raise CliError(f"the batch {workflow_id} failed: {_cause(err)}") from None


# ---- the commands --------------------------------------------------------------------------------

SettingsT = TypeVar("SettingsT", bound=BaseModel)


def _settings(model: type[SettingsT], **values: object) -> SettingsT:
    """Command-line values checked by the settings model, each problem named by its option."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        problems = [
            f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg'].lower()}" for e in err.errors()
        ]
        raise CliError("; ".join(problems)) from None


async def cmd_plan(args: argparse.Namespace) -> int:
    client = await open_client()
    warn_if_unencrypted(client)
    workflow_id, result = await run_plan(client, args.task, args.id, args.wait)
    if result is None:
        render.console().print(
            f"started {workflow_id}; watch it in the Web UI or rerun with --wait"
        )
    elif args.json:
        render.print_json({"workflow_id": workflow_id, "result": result})
    else:
        render.print_plan(workflow_id, result)
    return EXIT_OK


async def cmd_swarm(args: argparse.Namespace) -> int:
    if args.output and not _folder_exists(args.output):
        # Found before the run, not after it: the results would have nowhere to go.
        raise CliError(f"--output {args.output}: its folder does not exist")
    items, errors = read_swarm_items(Path(args.file))
    for e in errors:
        render.console(stderr=True).print(render.line(("error", "red"), f" {e}"))
    if not items:
        raise CliError(f"no items to analyse in {args.file}")
    chunk_size = chunk_size_fitting([encoded_size(i.text) for i in items], args.chunk_size)
    if chunk_size < args.chunk_size:
        render.console(stderr=True).print(
            f"note: chunks of {chunk_size} items instead of {args.chunk_size}: items this long "
            "would take a chunk's history past Temporal's limit"
        )
    settings = _settings(
        SwarmSettings,
        concurrency=args.concurrency,
        chunk_size=chunk_size,
        max_failure_rate=args.max_failure_rate,
    )
    client = await open_client()
    warn_if_unencrypted(client)
    try:
        workflow_id, result = await run_swarm(client, items, settings, args.id)
    except SwarmFailed as failed:
        if failed.summary is None:
            raise
        order = [i.item_id for i in items]
        result = await with_chunk_outputs(client, failed.workflow_id, failed.summary, order)
        _show_swarm(args, failed.workflow_id, result)
        raise
    _show_swarm(args, workflow_id, result)
    return EXIT_PARTIAL if errors else EXIT_OK


def _folder_exists(path: str) -> bool:
    return Path(path).resolve().parent.is_dir()


def _show_swarm(args: argparse.Namespace, workflow_id: str, result: SwarmResult) -> None:
    if args.output:
        write_outputs(Path(args.output), result)
    if args.json:
        summary = result.model_dump(mode="json", exclude={"outputs"})
        render.print_json({"workflow_id": workflow_id, "result": summary})
    else:
        render.print_swarm(result, workflow_id)
        if args.output:
            render.console().print(f"per-item results written to {args.output}")


async def cmd_batch(args: argparse.Namespace) -> int:
    parsed, errors = read_jsonl(Path(args.file))
    for e in errors:
        render.console(stderr=True).print(render.line(("error", "red"), f" {e}"))
    if not parsed:
        raise CliError(f"no tickets to submit in {args.file}")
    settings = _settings(BatchSettings, window=args.window, tickets_per_run=args.tickets_per_run)
    client = await open_client()
    warn_if_unencrypted(client)
    # An id another ticket holds is refused by name, as `submit` does: the batch's own start
    # would count it as already known (or, where that ticket ended without an answer, start
    # this one in its place) and the ticket would never be worked on.
    held = await ids_held_by_other_tickets(client, [p.ticket for p in parsed])
    for ticket_id in sorted(held):
        render.console(stderr=True).print(
            render.line(
                ("conflict", "red"),
                f" {ticket_id}: an earlier ticket on this server has this id with another "
                "subject, body or customer; this one was NOT submitted (give it another id)",
            )
        )
    tickets = [p.ticket for p in parsed if p.ticket.ticket_id not in held]
    if not tickets:
        raise CliError(f"no tickets to submit in {args.file}: every id is held by another ticket")
    workflow_id, progress = await run_batch(client, tickets, settings, args.id, args.wait)
    if progress is None:
        render.console().print(f"started {workflow_id} with {len(tickets)} ticket(s)")
    elif args.json:
        render.print_json(
            {"workflow_id": workflow_id, "progress": progress, "conflicts": sorted(held)}
        )
    else:
        render.print_batch(workflow_id, progress)
    return EXIT_PARTIAL if errors or held else EXIT_OK


def add_parsers(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    from starter.arg_types import chunk_size_argument, task_argument, workflow_id_argument
    from starter.arguments import positive_int

    p = sub.add_parser("plan", parents=[common], help="orchestrator-workers: plan a task, run it")
    p.add_argument("task", type=task_argument, help="the task, in words")
    p.add_argument("--wait", action="store_true", help="wait and print the plan and the answer")
    p.add_argument("--id", type=workflow_id_argument, help="workflow id (default: plan-<random>)")
    p.set_defaults(handler=cmd_plan)

    p = sub.add_parser("swarm", parents=[common], help="one agent over many items (JSON Lines)")
    p.add_argument("file", help="one JSON object a line: text (or review/body), optional id")
    p.add_argument("--concurrency", type=positive_int, default=20, help="items at once (20)")
    p.add_argument(
        "--chunk-size",
        type=chunk_size_argument,
        default=500,
        help=f"items per child (500; at most {MAX_CHUNK_SIZE:,})",
    )
    p.add_argument(
        "--max-failure-rate", type=float, default=0.1, help="fail the run above this share (0.1)"
    )
    p.add_argument("--output", help="write every item's result to this JSON Lines file")
    p.add_argument(
        "--id", type=workflow_id_argument, help="workflow id (default: derived from the items)"
    )
    p.set_defaults(handler=cmd_swarm)

    p = sub.add_parser("batch", parents=[common], help="many tickets as one batch workflow")
    p.add_argument("file", help="tickets, JSON Lines (as for submit)")
    p.add_argument("--window", type=positive_int, default=50, help="tickets in flight (50)")
    p.add_argument(
        "--tickets-per-run", type=positive_int, default=500, help="continue as new after (500)"
    )
    p.add_argument("--wait", action="store_true", help="wait until every ticket rests")
    p.add_argument(
        "--id", type=workflow_id_argument, help="workflow id (default: derived from the ticket ids)"
    )
    p.set_defaults(handler=cmd_batch)
