"""The fan-out commands: `plan` (orchestrator-workers), `swarm` (one agent, many items) and
`batch` (many tickets as one workflow), with live progress."""

import argparse
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from shared.batch import INVALID, BatchSettings
from shared.command_budget import chunk_size_fitting, encoded_size
from shared.swarm import (
    MAX_CHUNK_SIZE,
    MAX_SWARM_ITEMS,
    SwarmResult,
    SwarmSettings,
)
from shared.ticket_listing import ids_held_by_other_tickets
from starter import render, render_fanout
from starter.batch_run import run_batch
from starter.connection import open_client, warn_if_unencrypted
from starter.errors import EXIT_OK, EXIT_PARTIAL, CliError, UsageError
from starter.fanout_runs import SwarmFailed, run_plan, run_swarm, say_attached, swarm_input
from starter.fanout_watch import completed_before, require_worker
from starter.inputs import InputError, read_jsonl, read_swarm_items, resolved
from starter.swarm_outputs import (
    earlier_successes,
    run_results,
    with_answers_of_failed_chunks,
    with_chunk_outputs,
    write_outputs,
)

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


def _started(
    args: argparse.Namespace,
    workflow_id: str,
    said: str,
    errors: Sequence[InputError] | None = None,
    *,
    started: bool = True,
    conflicts: Sequence[str] | None = None,
) -> None:
    """A run started (or, ``started`` false, found running) without --wait: its id (and the
    input's errors, and the ids another ticket holds: ``batch``'s), as JSON with --json."""
    if args.json:
        held = {"conflicts": sorted(conflicts)} if conflicts is not None else {}
        render.print_json(
            {"workflow_id": workflow_id, "started": started, **held, **_errors_json(errors)}
        )
    elif started:
        render.console().print(said)
    else:
        render.console().print(workflow_id)


def _errors_json(errors: Sequence[InputError] | None) -> dict[str, Any]:
    """A file's input errors in a --json output (they also go to stderr as lines): none for a
    command that reads no file."""
    return {"errors": render.input_errors_json(errors)} if errors is not None else {}


async def cmd_plan(args: argparse.Namespace) -> int:
    _timeout_needs_wait(args)
    client = await open_client()
    await warn_if_unencrypted(client)
    # A run under the id that completed is shown from its history: no worker needed.
    if args.wait and not (args.id and await completed_before(client, args.id)):
        await require_worker(client, "the plan")
    workflow_id, result, earlier, attached = await run_plan(
        client, args.task, args.id, args.wait, getattr(args, "timeout", None)
    )
    if attached and result is None:
        say_attached(workflow_id, "this task", following=False)
    elif earlier:
        render.console(stderr=True).print(
            f"{workflow_id} planned this task before and completed; "
            + ("showing that run" if result else "--wait shows its result")
            + " (give another --id to plan it again)"
        )
    if result is None:
        if (earlier or attached) and args.json:
            render.print_json({"workflow_id": workflow_id, "started": False})
        elif not earlier and not attached:
            # The id is random unless given: waiting for this run takes it (a rerun without it
            # would start and pay for another).
            _started(
                args,
                workflow_id,
                f"started {workflow_id}; watch it in the Web UI, or wait for it with the same "
                f"command and --id {workflow_id} --wait",
            )
    elif args.json:
        render.print_json({"workflow_id": workflow_id, "result": result})
    else:
        render_fanout.print_plan(workflow_id, result)
    return EXIT_OK


async def cmd_swarm(args: argparse.Namespace) -> int:
    if args.output is not None and (problem := _output_problem(args.output, args.file)):
        raise CliError(f"--output {args.output}: {problem}")
    items, errors = read_swarm_items(Path(args.file))
    render.print_input_errors(errors)
    if not items:
        raise CliError(f"no items to analyse in {args.file}")
    if len(items) > MAX_SWARM_ITEMS:
        raise CliError(
            f"{args.file}: {len(items):,} items; a swarm takes at most {MAX_SWARM_ITEMS:,}: "
            "split the file and run each part as a swarm of its own (nothing was started)"
        )
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
    if settings.concurrency > settings.chunk_size < len(items):
        # Chunks run one after another: the window never holds more than one chunk's items, and
        # a swarm asked for 200 at once ran 50 without a word.
        render.console(stderr=True).print(
            f"note: at most {settings.chunk_size} items at once, not {settings.concurrency}: "
            f"a swarm's chunks ({settings.chunk_size} items each) run one after another"
        )
    client = await open_client()
    await warn_if_unencrypted(client)
    workflow_id, digest = swarm_input(items, args.id)
    # A run under the id that completed is shown from its history: no worker needed.
    if not await completed_before(client, workflow_id):
        await require_worker(client, "the swarm")
    # A run of these items that failed (or was stopped) under this id: what it analysed is kept
    # (it analysed, and paid for, every item again).
    carried = await earlier_successes(client, workflow_id, digest, {i.item_id for i in items})
    if carried:
        render.console(stderr=True).print(
            f"keeping the {len(carried):,} item result(s) an earlier run of these items "
            f"produced; analysing the other {len(items) - len(carried):,}"
        )
    try:
        workflow_id, result = await run_swarm(
            client, items, settings, args.id, carried, getattr(args, "timeout", None)
        )
    except SwarmFailed as failed:
        if failed.summary is None:
            if failed.stopped:
                # Cancelled, terminated or timed out: what it had bought is kept, and was not
                # said.
                await _say_what_was_answered(client, failed.workflow_id, len(items))
            raise
        order = [i.item_id for i in items]
        result = await with_chunk_outputs(client, failed.workflow_id, failed.summary, order)
        _show_swarm(args, failed.workflow_id, result, errors)
        raise
    result, recovered = await with_answers_of_failed_chunks(client, workflow_id, result)
    if recovered:
        render.console(stderr=True).print(
            f"{recovered:,} item(s) listed as failed with their chunk had been answered before it "
            "ended: their answers, read from that chunk's history, are in the results below"
        )
    _show_swarm(args, workflow_id, result, errors)
    return EXIT_PARTIAL if errors else EXIT_OK


async def _say_what_was_answered(client: Client, workflow_id: str, total: int) -> None:
    """After a swarm was cancelled or terminated: how many items had their answers (paid for,
    read from its history and its unfinished chunks'), and that a rerun keeps them."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
        answered = await run_results(client, workflow_id, described.run_id)
    except Exception as err:  # said, and the run's own error follows
        said = err.message if isinstance(err, RPCError) else " ".join(str(err).split())[:200]
        render.console(stderr=True).print(
            f"what it had answered could not be read ({said}); the same command again keeps "
            "those answers all the same if it can read them"
        )
        return
    usages = [r.usage for r in answered if r.usage is not None]
    tokens = sum(u.input_tokens + u.output_tokens for u in usages)
    cost = sum(u.cost_usd for u in usages)
    render.console(stderr=True).print(
        f"{len(answered):,} of {total:,} item(s) have their answers "
        f"({tokens:,} tokens, ${cost:.4f} to make them, over every run under this id); the same "
        "command again keeps those answers and "
        "analyses the rest"
    )


def _output_problem(path: str, items_file: str) -> str | None:
    """Why ``--output`` could not be written, found before the run rather than after it: the
    results would have nowhere to go, or would replace the items they answer."""
    if not path.strip():
        # `--output "$OUT"` with OUT unset: a paid run whose results went nowhere.
        return "is empty; give a file's name"
    target = Path(path)
    if target.is_dir():
        return "is a folder; give a file's name"
    where = resolved(path)
    if where == resolved(items_file):
        return "is the items' own file; write the results to another"
    if not where.parent.is_dir():
        return "its folder does not exist"
    if target.exists() and not os.access(target, os.W_OK):
        return "cannot be written by this user"
    # Tried, not asked: a read-only mount or /proc passed the questions above (as root, every
    # access check does) and failed only after the paid run (a review, 2026-12-07).
    try:
        with tempfile.TemporaryFile(dir=where.parent):
            pass
    except OSError as err:
        return f"its folder cannot be written to ({err.strerror or type(err).__name__})"
    return None


def _show_swarm(
    args: argparse.Namespace, workflow_id: str, result: SwarmResult, errors: Sequence[InputError]
) -> None:
    # The summary first: a results file that cannot be written then fails the command after
    # it, instead of losing it too.
    if args.json:
        summary = result.model_dump(mode="json", exclude={"outputs"})
        render.print_json({"workflow_id": workflow_id, "result": summary, **_errors_json(errors)})
    else:
        render_fanout.print_swarm(result, workflow_id)
    if args.output:
        write_outputs(Path(args.output), result)
        if not args.json:
            render.console().print(f"per-item results written to {args.output}")


async def cmd_batch(args: argparse.Namespace) -> int:
    _timeout_needs_wait(args)
    parsed, errors = read_jsonl(Path(args.file))
    render.print_input_errors(errors)
    if not parsed:
        raise CliError(f"no tickets to submit in {args.file}")
    settings = _settings(BatchSettings, window=args.window, tickets_per_run=args.tickets_per_run)
    client = await open_client()
    await warn_if_unencrypted(client)
    # An id another ticket holds is refused by name, as `submit` does: the batch's own start
    # would count it as already known (or, where that ticket ended without an answer, start
    # this one in its place) and the ticket would never be worked on.
    held = await ids_held_by_other_tickets(client, [p.ticket for p in parsed])
    for p in parsed:
        if p.ticket.ticket_id not in held:
            continue
        where = f"{p.source}:{p.line}: " if p.line else ""
        render.console(stderr=True).print(
            render.line(
                ("conflict", "red"),
                f" {where}{p.ticket.ticket_id}: an earlier ticket on this server has this id "
                "with another subject, body or customer; this one was NOT submitted (give it "
                "another id)",
            )
        )
    tickets = [p.ticket for p in parsed if p.ticket.ticket_id not in held]
    if not tickets:
        raise CliError(f"no tickets to submit in {args.file}: every id is held by another ticket")
    if args.wait:
        await require_worker(client, "the batch")
    workflow_id, progress, attached = await run_batch(
        client, tickets, settings, args.id, args.wait, getattr(args, "timeout", None)
    )
    if attached and progress is None:
        say_attached(workflow_id, f"these {len(tickets)} ticket(s)", following=False)
    if progress is None:
        said = f"started {workflow_id} with {len(tickets)} ticket(s)"
        # The held ids too: they make the exit code 3, and a script must know which they are.
        _started(args, workflow_id, said, errors, started=not attached, conflicts=held)
    elif args.json:
        render.print_json(
            {
                "workflow_id": workflow_id,
                "progress": progress,
                "conflicts": sorted(held),
                "failed": progress.failed,
                **_errors_json(errors),
            }
        )
    else:
        render_fanout.print_batch(workflow_id, progress)
    failed = progress.failed if progress else 0
    if failed:
        # Exit 3, as `submit --wait`: a script reading the exit code took them for answered.
        render.console(stderr=True).print(
            f"{failed} ticket(s) of the batch ended without an answer sent (the counts above say "
            "how): `python -m starter list --state FAILED` (and --state DELIVERY_FAILED) names "
            "the pipeline's, `status ID` says why"
        )
    # Tickets the batch's own check refused were never started: exit 3 too (it was 0).
    refused = progress.settled.get(INVALID, 0) if progress else 0
    if refused:
        render.console(stderr=True).print(
            f"{refused} ticket(s) of the batch were refused as invalid and never started (the "
            "reasons above): fix them and submit them again"
        )
    return EXIT_PARTIAL if errors or held or failed or refused else EXIT_OK


def _timeout_needs_wait(args: argparse.Namespace) -> None:
    if getattr(args, "timeout", None) is not None and not args.wait:
        raise UsageError("--timeout bounds --wait: give both, or neither")


def add_parsers(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    from starter.arguments import (
        add_setting,
        chunk_size_argument,
        task_argument,
        wait_seconds,
        workflow_id_argument,
    )

    def add_timeout(p: argparse.ArgumentParser, waits: str) -> None:
        # A batch whose ticket sits in DELIVERING (retrying for hours) held `batch --wait` for
        # as long, with no way to bound it (a review, 2026-12-07).
        p.add_argument(
            "--timeout",
            type=wait_seconds,
            help=f"give up {waits} after this many seconds (exit 3; the run goes on on the "
            "server, and the same command with --id follows it again)",
        )

    p = sub.add_parser("plan", parents=[common], help="orchestrator-workers: plan a task, run it")
    p.add_argument("task", type=task_argument, help="the task, in words")
    p.add_argument("--wait", action="store_true", help="wait and print the plan and the answer")
    p.add_argument("--id", type=workflow_id_argument, help="workflow id (default: plan-<random>)")
    add_timeout(p, "--wait")
    p.set_defaults(handler=cmd_plan)

    p = sub.add_parser("swarm", parents=[common], help="one agent over many items (JSON Lines)")
    p.add_argument("file", help="one JSON object a line: text (or review/body), optional id")
    add_setting(p, "--concurrency", SwarmSettings, "concurrency", "items at once")
    p.add_argument(
        "--chunk-size",
        type=chunk_size_argument,
        default=500,
        help=f"items per child (500; at most {MAX_CHUNK_SIZE:,})",
    )
    add_setting(
        p, "--max-failure-rate", SwarmSettings, "max_failure_rate", "fail the run above this share"
    )
    p.add_argument("--output", help="write every item's result to this JSON Lines file")
    p.add_argument(
        "--id", type=workflow_id_argument, help="workflow id (default: derived from the items)"
    )
    add_timeout(p, "waiting")
    p.set_defaults(handler=cmd_swarm)

    p = sub.add_parser("batch", parents=[common], help="many tickets as one batch workflow")
    p.add_argument("file", help="tickets, JSON Lines (as for submit)")
    add_setting(p, "--window", BatchSettings, "window", "tickets in flight")
    add_setting(p, "--tickets-per-run", BatchSettings, "tickets_per_run", "continue as new after")
    p.add_argument("--wait", action="store_true", help="wait until every ticket rests")
    p.add_argument(
        "--id", type=workflow_id_argument, help="workflow id (default: derived from the ticket ids)"
    )
    add_timeout(p, "--wait")
    p.set_defaults(handler=cmd_batch)
