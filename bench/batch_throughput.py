"""Thousands of tickets as one BatchWorkflow on the embedded server, with one worker process.

    python -m bench batch_throughput [--tickets N] [--window W] [--resubmit]

Starts a private dev server (headless, SQLite file in a temporary directory, as `make run` does)
and `python -m worker` (offline agents), submits N tickets (Bitext text when the dataset is
present, else the bundled samples repeated) as one batch, and waits for the batch to finish.
Reported: tickets per second, how the tickets rested, how often the batch continued as new, and
the worker process's peak resident memory (VmHWM). Default: 10,000 tickets, 50 in flight.
``--resubmit``: then the same tickets again as a second batch, as a user reruns a batch file:
every start is refused (the tickets completed or wait for a person), and the second batch's
time, tickets per second and the activities its runs scheduled to restart refused starts are
printed too.
"""

import argparse
import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from bench.pipeline_throughput import tickets
from bench.stack import embedded_stack
from shared import names
from shared.batch import BatchProgress, BatchSettings, BatchState
from shared.tickets import Ticket

REPORT_EVERY = 60.0  # seconds between progress lines


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set size so far (Linux), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def start_batch(
    client: Client, workflow_id: str, batch: list[Ticket], settings: BatchSettings
) -> WorkflowHandle[Any, BatchProgress]:
    return await client.start_workflow(
        names.BATCH_WORKFLOW,
        args=[batch, BatchState(settings=settings)],
        id=workflow_id,
        task_queue=names.TICKETS_TASK_QUEUE,
        result_type=BatchProgress,
    )


async def scheduled_activities(client: Client, workflow_id: str, run_id: str) -> Counter[str]:
    """The activities the run ``run_id`` of ``workflow_id`` and the runs it continued as
    scheduled, by type (followed through the histories: a listing may lag the last run)."""
    counts: Counter[str] = Counter()
    next_run: str | None = run_id
    while next_run:
        handle = client.get_workflow_handle(workflow_id, run_id=next_run)
        next_run = None
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                counts[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                attributes = event.workflow_execution_continued_as_new_event_attributes
                next_run = attributes.new_execution_run_id
    return counts


async def resubmit(client: Client, batch: list[Ticket], settings: BatchSettings) -> int:
    """The same tickets again as a second batch: its time, and what its refused starts cost."""
    started = time.perf_counter()
    handle = await start_batch(client, "batch-bench-again", batch, settings)
    progress = await handle.result()
    elapsed = time.perf_counter() - started
    counts = await scheduled_activities(client, handle.id, handle.result_run_id or "")
    restarts = ", ".join(f"{name} {c:,}" for name, c in sorted(counts.items())) or "none"
    n = len(batch)
    print(f"\nThe same {n:,} tickets again as a second batch (every start refused):\n")
    print("| measure | value |\n|---|---:|")
    print(f"| tickets per second | {n / elapsed:,.1f} |")
    print(f"| wall time | {elapsed:,.1f} s |")
    print(f"| started / already known | {progress.started:,} / {progress.already_known:,} |")
    print(f"| activities scheduled | {restarts} |")
    return 0 if progress.done == n and progress.started == 0 else 1


async def run(n: int, window: int, again: bool) -> int:
    batch, source = tickets(n)
    settings = BatchSettings(window=window)
    async with embedded_stack() as stack:
        client, pid = stack.client, stack.worker.pid
        started = time.perf_counter()
        handle = await start_batch(client, "batch-bench", batch, settings)
        result = asyncio.ensure_future(handle.result())
        while not result.done():
            await asyncio.wait({result}, timeout=REPORT_EVERY)
            if not result.done():
                p = await handle.query(names.PROGRESS_QUERY, result_type=BatchProgress)
                elapsed = time.perf_counter() - started
                print(
                    f"  {elapsed:6.0f} s: {p.done:,} of {p.total:,} done "
                    f"({p.done / elapsed:.1f}/s), {p.in_flight} in flight, "
                    f"worker peak {peak_rss_mib(pid):.0f} MiB",
                    flush=True,
                )
        progress = await result
        elapsed = time.perf_counter() - started
        peak = peak_rss_mib(pid)
        runs = 0
        async for _ in client.list_workflows(f"WorkflowId = '{handle.id}'"):
            runs += 1
        print(
            f"\n{n:,} tickets ({source}) as one batch, {window} in flight, on the embedded dev "
            "server (SQLite file) with one worker process (offline agents)\n"
        )
        print("| measure | value |\n|---|---:|")
        print(f"| tickets per second | {n / elapsed:,.1f} |")
        print(f"| wall time | {elapsed:,.0f} s |")
        print(f"| worker peak memory (VmHWM) | {peak:,.0f} MiB |")
        print(f"| batch runs (1 + continue-as-new) | {runs} |")
        print(f"| started / already known | {progress.started:,} / {progress.already_known:,} |")
        outcome = ", ".join(f"{s} {c:,}" for s, c in progress.settled.items())
        print(f"| outcome | {outcome} |")
        code = 0 if progress.done == n else 1
        if again:
            code = max(code, await resubmit(client, batch, settings))
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch_throughput")
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument(
        "--resubmit", action="store_true", help="then the same tickets again as a second batch"
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.tickets, args.window, args.resubmit))
