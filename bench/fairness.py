"""Does one customer's burst delay another customer's single ticket?

    python -m bench fairness [--tickets N] [--compare]

On a private embedded dev server (SQLite file, as `make run`) with one `python -m worker`
process (offline agents): customer A submits N tickets at once; as soon as they are accepted,
customer B submits one. Measured by the server's clock, from B's start until its ticket is at
rest (closed, or its last event while it waits), the part of that its workflow and activity
tasks waited in task queues (from its history), and the time A's burst took to come to rest.
Every ticket carries a fairness key per customer and the embedded server dispatches backlogs
round-robin over them; --compare runs the same on a server with fairness off
(docs/performance.md).
"""

import argparse
import asyncio
import uuid

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.dataset import PROJECT_ROOT
from bench.stack import embedded_stack
from bench.ticket_cost import rest_span, rested_tickets_query, wait_count
from shared import names, waiting
from shared import operations as ops
from shared.tickets import Ticket
from starter.inputs import read_jsonl

SETTLE_TIMEOUT = 1800.0
BULK_CUSTOMER = "C-BULK-0001"
SINGLE_CUSTOMER = "C-SINGLE-0002"
TARGET_SECONDS = 5.0


def _tickets(prefix: str, customer: str, n: int) -> list[Ticket]:
    samples = [p.ticket for p in read_jsonl(PROJECT_ROOT / "samples" / "tickets.jsonl")[0]]
    return [
        samples[i % len(samples)].model_copy(
            update={"ticket_id": f"{prefix}-{i}", "customer_id": customer}
        )
        for i in range(n)
    ]


async def queue_wait(client: Client, ticket_id: str) -> float:
    """Seconds the ticket's workflow and activity tasks spent scheduled but not yet started (the
    wait in task queues, where fairness acts), from its history."""
    history = await client.get_workflow_handle(names.ticket_workflow_id(ticket_id)).fetch_history()
    scheduled: dict[int, float] = {}
    waited = 0.0
    for event in history.events:
        at = event.event_time.ToMicroseconds() / 1e6
        if event.HasField("workflow_task_scheduled_event_attributes") or event.HasField(
            "activity_task_scheduled_event_attributes"
        ):
            scheduled[event.event_id] = at
        elif event.HasField("workflow_task_started_event_attributes"):
            started = event.workflow_task_started_event_attributes.scheduled_event_id
            waited += at - scheduled.get(started, at)
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes.scheduled_event_id
            waited += at - scheduled.get(started, at)
    return waited


async def task_timeouts(client: Client, tickets: list[Ticket]) -> int:
    """Workflow tasks that timed out in the tickets' histories."""
    timed_out = 0
    for ticket in tickets:
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket.ticket_id))
        history = await handle.fetch_history()
        timed_out += sum(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in history.events
        )
    return timed_out


async def one_run(n: int, **server_options: object) -> tuple[float, float, float, int]:
    """(B's single ticket: submission to rest, the part of it its tasks waited in task queues,
    A's burst: submission to all at rest, in seconds; the burst's workflow tasks that timed
    out)."""
    async with embedded_stack(**server_options) as stack:
        run = uuid.uuid4().hex[:6]
        bulk = _tickets(f"A{run}", BULK_CUSTOMER, n)
        single = _tickets(f"B{run}", SINGLE_CUSTOMER, 1)
        # Warm the worker (first workflow task, imports) outside the measurement.
        warm = _tickets(f"W{run}", "C-WARM", 1)
        await ops.submit_tickets(stack.client, warm)
        await waiting.wait_settled(stack.client, [warm[0].ticket_id], SETTLE_TIMEOUT)

        await ops.submit_tickets(stack.client, bulk)
        await ops.submit_tickets(stack.client, single)
        single_query = rested_tickets_query(f"B{run}")
        single_task = asyncio.create_task(wait_count(stack.client, single_query, 1))
        await wait_count(stack.client, rested_tickets_query(f"A{run}"), n)
        await single_task
        # By the server's clock (the polls come up to an interval late).
        bulk_seconds = await rest_span(stack.client, rested_tickets_query(f"A{run}"))
        single_seconds = await rest_span(stack.client, single_query)
        queued = await queue_wait(stack.client, single[0].ticket_id)
        return single_seconds, queued, bulk_seconds, await task_timeouts(stack.client, bulk)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fairness")
    parser.add_argument(
        "--tickets", type=int, default=500, help="customer A's burst (the issue's 500)"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run on a server with fairness off (the tickets carry their keys either way)",
    )
    args = parser.parse_args(argv)
    rows = {"fairness on (as `make run`)": asyncio.run(one_run(args.tickets))}
    if args.compare:
        rows["fairness off"] = asyncio.run(one_run(args.tickets, fairness=False))
    print(
        f"embedded dev server (SQLite, WAL + full), one worker process, offline agents; customer "
        f"A submits {args.tickets} tickets at once, then customer B one"
    )
    print()
    print(
        "| server | B's ticket: submitted to at rest | of which its tasks waited in task queues "
        "| A's burst: submitted to all at rest | its workflow tasks timed out |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, (single, queued, bulk, timed_out) in rows.items():
        print(f"| {name} | {single:.1f} s | {queued:.1f} s | {bulk:.1f} s | {timed_out} |")
    print()
    single = rows["fairness on (as `make run`)"][0]
    met = single <= TARGET_SECONDS
    print(
        f"target (B's ticket at rest within a few seconds, {TARGET_SECONDS:g} s): "
        f"{'MET' if met else 'MISSED'}"
    )
    return 0 if met else 1
