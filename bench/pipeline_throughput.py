"""End-to-end throughput on the embedded Temporal server with one worker process.

    python -m bench pipeline_throughput [--tickets N]

Starts a private dev server (headless, SQLite in a temporary directory) and `python -m worker`,
submits N tickets (Bitext text when the dataset is present, else the bundled samples repeated),
waits until every ticket rests, and reports tickets per second and time-to-settle percentiles.

Time to settle is measured from submission: from the moment the server accepted the ticket's
start request (its execution start time) to the ticket's last transition (the workflow's clock
when it came to rest). Both are the server's clock. It includes the time a ticket waited in the
queue behind the others, which is what a customer waits too.
"""

import argparse
import asyncio
import os
import time
from datetime import datetime

from temporalio.client import Client

from bench.dataset import PROJECT_ROOT, dataset_path, load
from bench.stack import embedded_stack
from policy.stats import percentile
from policy.transitions import TicketState
from shared import names, waiting
from shared import operations as ops
from shared.tickets import Ticket
from starter.inputs import read_jsonl


def tickets(n: int) -> tuple[list[Ticket], str]:
    if dataset_path().exists():
        # Evenly through the file, not its first rows: the first 300 Bitext rows are all one
        # intent family (orders), one category (a review, 2026-12-07).
        every = [item.ticket for item in load()]
        texts = every[:: max(1, len(every) // n)][:n]
        if len(texts) >= n:
            return texts, "Bitext"
        # Fewer requests than asked for: each again under a new id.
        return [
            texts[i % len(texts)].model_copy(
                update={"ticket_id": f"{texts[i % len(texts)].ticket_id}-{i // len(texts)}"}
            )
            for i in range(n)
        ], f"Bitext, {len(texts):,} requests repeated"
    samples = [p.ticket for p in read_jsonl(PROJECT_ROOT / "samples" / "tickets.jsonl")[0]]
    repeated = [
        samples[i % len(samples)].model_copy(update={"ticket_id": f"B-{i}"}) for i in range(n)
    ]
    return repeated, "bundled samples"


async def submitted_at(client: Client) -> dict[str, datetime]:
    """Each ticket's submission: when the server accepted its start request."""
    found = {}
    async for execution in client.list_workflows(f"WorkflowType = '{names.TICKET_WORKFLOW}'"):
        found[names.ticket_id_from_workflow_id(execution.id)] = execution.start_time
    return found


async def run(n: int) -> int:
    batch, source = tickets(n)
    async with embedded_stack() as stack:
        client = stack.client
        started = time.perf_counter()
        await ops.submit_tickets(client, batch)
        submitted = time.perf_counter() - started
        views = await waiting.wait_settled(
            client,
            [t.ticket_id for t in batch],
            timeout=1800,
            interval=float(os.environ.get("BENCH_POLL", "0.5")),
        )
        elapsed = time.perf_counter() - started
        starts = await submitted_at(client)
    settle = [(v.transitions[-1].at - starts[v.ticket_id]).total_seconds() for v in views.values()]
    states = {s: sum(v.state == s for v in views.values()) for s in TicketState}
    print(f"{len(batch):,} tickets ({source}) on the embedded dev server, one worker process\n")
    print("| measure | value |\n|---|---:|")
    print(f"| submit rate | {len(batch) / submitted:,.0f} tickets/s |")
    print(f"| end-to-end throughput | {len(batch) / elapsed:,.1f} tickets/s |")
    print(f"| wall time | {elapsed:,.1f} s |")
    print(
        f"| time to settle from submission p50 / p95 / max | {percentile(settle, 50):.2f} / "
        f"{percentile(settle, 95):.2f} / {max(settle):.2f} s |"
    )
    print("| outcome | " + ", ".join(f"{s} {c}" for s, c in states.items() if c) + " |")
    return 0 if len(views) == len(batch) else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench pipeline_throughput")
    parser.add_argument("--tickets", type=int, default=300)
    return asyncio.run(run(parser.parse_args(argv).tickets))
