"""``python -m starter gc-payloads [--grace 1h] [--yes] [--schedule 1d | --unschedule]``: delete
stored payloads that no open or retained workflow refers to any more (shared/payload_gc.py says
which), now or on a Temporal schedule (starter/gc_schedule.py). docs/payloads.md."""

import argparse
import sys
from datetime import timedelta
from typing import Final

from temporalio.client import Client
from temporalio.service import RPCError

from shared import names
from shared.payload_gc import (
    MIN_GRACE,
    REPLAYER_NAMESPACE,
    GcReport,
    collect_payloads,
)
from shared.payload_gc_renewal import renew_before_retirement
from shared.payload_store import PayloadStoreError
from shared.queue_pollers import workers_polling
from shared.stores.config import StoreConfig
from shared.stores.factory import build_stores, payload_drivers
from starter import gc_schedule, render
from starter.connection import open_client
from starter.durations import describe_duration, parse_duration
from starter.errors import EXIT_OK, CliError, UsageError


def _size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


def print_report(report: GcReport) -> None:
    out = render.console()
    grace = describe_duration(timedelta(seconds=report.grace_seconds))
    out.print(f"Payload store: {report.store} (namespace {report.namespace})")
    out.print(f"  {report.owners_checked} owning workflow(s) checked against Temporal")
    out.print(
        f"  {report.owners_gone} gone (past retention or deleted): "
        f"{report.released_from_gone_owners} payload ownership(s) released"
    )
    out.print(
        f"  {report.released_unreferenced} payload(s) that no history of a retained owner "
        f"refers to (query answers and the like), stored over {grace} ago"
    )
    if report.released_replay_copies:
        out.print(
            f"  {report.released_replay_copies} payload(s) a replayer stored "
            f"(namespace {REPLAYER_NAMESPACE}): never read"
        )
    if report.children_of_retained_parents:
        out.print(
            f"  {report.children_of_retained_parents} gone child workflow(s) of retained "
            "parents: what those parents' histories refer to kept"
        )
    if report.kept_for_retained_histories:
        out.print(
            f"  {report.kept_for_retained_histories} payload ownership(s) their owners no longer "
            "need kept: another retained workflow's history refers to them (a child's input)"
        )
    if report.kept_for_unchecked_owners:
        out.print(
            f"  {report.kept_for_unchecked_owners} payload ownership(s) their owners no longer "
            "need kept: an owner that could not be checked may refer to them"
        )
    if report.left_alone:
        out.print(
            f"  {report.left_alone} ownership(s) left alone: activities, no target, "
            "or another namespace"
        )
    for problem in report.problems:
        out.print(render.line("  ", ("could not check", "red"), f" {problem}"))
    if (unlisted := report.owners_not_checked - len(report.problems)) > 0:
        out.print(render.line("  ", ("could not check", "red"), f" {unlisted} more owner(s)"))
    if report.applied:
        out.print(
            f"Deleted {report.payloads_deleted} payload(s), {_size(report.bytes_freed)} "
            f"({report.owner_rows_removed} ownership(s) removed)."
        )
    else:
        out.print(
            f"Would delete {report.payloads_to_delete} payload(s), "
            f"{_size(report.bytes_to_delete)} (a payload another owner still holds stays)."
        )
        out.print("Nothing was deleted: run again with --yes to delete.")


async def run_gc(args: argparse.Namespace) -> int:
    if args.grace < MIN_GRACE:
        raise UsageError(f"--grace must be at least {describe_duration(MIN_GRACE)}")
    if args.schedule is not None or args.unschedule:
        return await _run_schedule(args)
    client = await open_client()
    # A dry run reads: it must not migrate the workers' database.
    failed: str | None = None
    async with build_stores(StoreConfig.from_env(), migrates=args.yes) as stores:
        primary, *files = payload_drivers(stores) if args.data_directory else [stores.payloads]
        report = await collect_payloads(client, primary, args.grace, really=args.yes)
        for driver in files:
            try:
                report.data_directory = await collect_payloads(
                    client, driver, args.grace, really=args.yes
                )
            except (OSError, ValueError, PayloadStoreError) as err:
                # The database's report is printed all the same: it may have deleted already.
                failed = (
                    f"the data directory's files ({driver.describe()}) were not collected: {err}"
                )
    if args.json:
        render.print_json(report)
    else:
        print_report(report)
        if report.data_directory is not None:
            print_report(report.data_directory)
    if failed is not None:
        raise CliError(failed)
    unchecked = report.owners_not_checked + (
        report.data_directory.owners_not_checked if report.data_directory else 0
    )
    if unchecked:
        raise CliError(f"{unchecked} owner(s) could not be checked; their payloads were kept")
    return EXIT_OK


SCHEDULE_OFF: Final = "off"


def schedule_argument(text: str) -> timedelta | str:
    """``--schedule``: a duration, or ``off`` (the schedule removed, as ``--unschedule``: what
    the compose file's job is given to stop collecting)."""
    return SCHEDULE_OFF if text.strip().lower() == SCHEDULE_OFF else parse_duration(text)


async def _run_schedule(args: argparse.Namespace) -> int:
    if args.schedule is not None and args.unschedule:
        raise UsageError("--schedule and --unschedule: give one")
    if args.schedule == SCHEDULE_OFF:
        args.schedule, args.unschedule = None, True
    if args.schedule is not None and not args.yes:
        raise UsageError(
            "every scheduled run deletes what `gc-payloads --yes` would: add --yes to schedule it"
        )
    if args.schedule is not None and args.schedule < gc_schedule.MIN_EVERY:
        raise UsageError(
            f"--schedule must be at least {describe_duration(gc_schedule.MIN_EVERY)}: each run "
            "reads the history of every workflow that stored a payload"
        )
    client = await open_client()
    schedule_id = names.PAYLOAD_GC_SCHEDULE_ID
    out = render.console()
    if args.unschedule:
        removed = await gc_schedule.unschedule_gc(client)
        if args.json:
            render.print_json({"schedule_id": schedule_id, "removed": removed})
        elif removed:
            out.print(f"Removed the schedule {schedule_id} (a run under way finishes).")
        else:
            out.print(f"No schedule {schedule_id} on this namespace: nothing to remove.")
        return EXIT_OK
    scheduled = await gc_schedule.schedule_gc(client, args.schedule, args.grace)
    # A failed run under a key no longer current would be handed on (shared/payload_gc_renewal).
    try:
        renewed = await renew_before_retirement(client)
    except RPCError as err:  # scheduled already: said, not failed (the compose job runs this)
        renewed = None
        print(f"warning: could not check the schedule's last failed run: {err}", file=sys.stderr)
    polled = await _tickets_queue_polled(client)
    if args.json:
        render.print_json(
            {
                "schedule_id": schedule_id,
                "created": scheduled.created,
                "changed": scheduled.changed,
                "paused": scheduled.paused,
                "every_seconds": args.schedule.total_seconds(),
                "grace_seconds": args.grace.total_seconds(),
                "task_queue": names.TICKETS_TASK_QUEUE,
                "next_runs": [t.isoformat() for t in scheduled.next_runs],
                "worker_polling": polled,
                "remade_for_key_rotation": renewed is not None,
            }
        )
        return EXIT_OK
    said = (
        "Scheduled the payload collection"
        if scheduled.created
        else "Rescheduled the payload collection"
        if scheduled.changed
        else "Nothing to change: the payload collection was already scheduled"
    )
    out.print(
        f"{said} every {describe_duration(args.schedule)}, leaving alone what was stored in the "
        f"last {describe_duration(args.grace)}: the Temporal schedule {schedule_id} starts "
        f"{names.PAYLOAD_GC_WORKFLOW} on the {names.TICKETS_TASK_QUEUE} queue, whose workers "
        "delete what `gc-payloads --yes` would."
    )
    if renewed:
        out.print(f"{renewed[0].upper()}{renewed[1:]}.")
    if scheduled.next_runs:
        out.print(f"Next run: {render.when(scheduled.next_runs[0])}.")
    out.print(
        f"Each run is a workflow {schedule_id}-<time>, its collect_payloads activity's result the "
        "counts of `gc-payloads --json`: `temporal workflow list --query "
        f"\"TemporalScheduledById='{schedule_id}'\"`, or "
        "the Web UI; `gc-payloads --unschedule` removes the schedule."
    )
    if scheduled.paused:
        out.print(
            render.line(
                "",
                ("warning", "yellow"),
                f": the schedule is paused ({scheduled.note or 'no note'}), so no run starts "
                f"and PayloadCollectionOverdue stays silent: `temporal schedule toggle "
                f"--schedule-id {schedule_id} --unpause`, then `temporal schedule trigger "
                f"--schedule-id {schedule_id}` runs one at once",
            )
        )
    if polled is False:
        out.print(
            render.line(
                "",
                ("warning", "yellow"),
                f": no worker is polling the {names.TICKETS_TASK_QUEUE} queue now; the runs wait "
                "for one (`python -m worker`)",
            )
        )
    return EXIT_OK


async def _tickets_queue_polled(client: Client) -> bool | None:
    """Whether a worker takes the runs now (None: the server cannot say)."""
    try:
        return await workers_polling(client, names.TICKETS_TASK_QUEUE)
    except RPCError:
        return None
