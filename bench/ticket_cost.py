"""What a ticket costs the Temporal server, next to a bare workflow with as many activities.

    python -m bench ticket_cost [--tickets N] [--rounds R] [--synchronous full|normal]
                                [--journal wal|delete] [--no-search-attribute-cache]
                                [--transfer-reads PER_SECOND]
                                [--server-metrics]
    TICKETS_WORKFLOW_SANDBOX=off python -m bench ticket_cost ...   (the ticket worker unsandboxed)

On one private embedded dev server (SQLite file, as `make run`), with the real worker process
(offline agents) and a bare-workflow worker process (bench/bare_workflow.py), both using the
project's client (encryption codec, tracing plugin):

1. the history of a straight-through ticket (no review, no revision, no fallback): events,
   workflow tasks, activities, local activities, search-attribute upserts, markers, and the
   billable actions Temporal Cloud would count for it (see ``billable_actions``);
2. throughput, side by side: N straight-through tickets, then N bare workflows with the same
   number of activities, then N more with those activities on a task queue of their own (as the
   ticket's agent calls are: no eager dispatch), then N shaped as the ticket (in each workflow
   task the ticket's patch markers, local activities, upserts and activities, all no-ops: the
   ticket's Temporal work without its code), R rounds alternating, each timed on the server's
   clock from the first start to the last one's rest (``rest_span``).
Tickets go straight through when the offline agents answer them without a person: the bundled
samples that do so in a probe run are repeated under new ids.
"""

import argparse
import asyncio
import os
import time
import uuid
from collections import Counter

from temporalio.client import Client, WorkflowHistory

from bench.bare_workflow import BARE_WORKFLOW, activity_queue_of
from bench.dataset import PROJECT_ROOT
from bench.machine import cpu_seconds
from bench.server_metrics import scrape as server_metrics_scrape
from bench.server_metrics import table as server_metrics_table
from bench.stack import Stack, embedded_stack
from bench.ticket_history import history_cost, ticket_shape
from policy.transitions import SETTLED_STATES, TicketState
from shared import names, waiting
from shared import operations as ops
from shared import search_attributes as sa
from shared.settings import workflow_sandbox
from shared.tickets import Ticket
from shared.view import TicketView
from starter.inputs import read_jsonl
from starter.spawn import spawn_logged
from tests.support.processes import environment, free_port

POLL_SECONDS = 0.5
START_CONCURRENCY = ops.SUBMIT_CONCURRENCY
BARE_READY_TIMEOUT = 60.0
SETTLE_TIMEOUT = 1800.0


def straight_through(view: TicketView) -> bool:
    return (
        view.state is TicketState.COMPLETED
        and not view.reviews
        and not view.fallbacks
        and not view.complex
        and view.draft is not None
        and view.draft.revision == 1
    )


async def probe(client: Client) -> tuple[list[Ticket], WorkflowHistory]:
    """The bundled samples that go straight through, and one such ticket's history."""
    samples = [p.ticket for p in read_jsonl(PROJECT_ROOT / "samples" / "tickets.jsonl")[0]]
    probe_ids = [t.model_copy(update={"ticket_id": f"P-{t.ticket_id}"}) for t in samples]
    await ops.submit_tickets(client, probe_ids)
    views = await waiting.wait_settled(client, [t.ticket_id for t in probe_ids], SETTLE_TIMEOUT)
    straight = [
        t for t, p in zip(samples, probe_ids, strict=True) if straight_through(views[p.ticket_id])
    ]
    if not straight:
        raise SystemExit("no bundled sample went straight through: nothing to measure")
    first = names.ticket_workflow_id(f"P-{straight[0].ticket_id}")
    return straight, await client.get_workflow_handle(first).fetch_history()


async def wait_count(client: Client, query: str, target: int) -> float:
    """Until ``target`` workflows match ``query``: one count request per interval; the seconds
    it took."""
    started = time.monotonic()
    while (await client.count_workflows(query)).count < target:
        if time.monotonic() - started > SETTLE_TIMEOUT:
            raise SystemExit(f"timed out waiting for {target} workflows matching {query}")
        await asyncio.sleep(POLL_SECONDS)
    return time.monotonic() - started


async def rest_span(client: Client, query: str) -> float:
    """Seconds from the first start to the last workflow at rest among those ``query`` matches,
    by the server's clock: a closed one's close time, a waiting one's last event. (The polls of
    ``wait_count`` come up to an interval and a request late, more for a shorter arm.)"""
    first: float | None = None
    last: float | None = None
    async for execution in client.list_workflows(query):
        started = execution.start_time.timestamp()
        if execution.close_time is not None:
            ended = execution.close_time.timestamp()
        else:
            handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
            events = (await handle.fetch_history()).events
            ended = events[-1].event_time.ToMicroseconds() / 1e6
        first = started if first is None else min(first, started)
        last = ended if last is None else max(last, ended)
    if first is None or last is None:
        raise SystemExit(f"no workflow matches {query}")
    return last - first


def rested_tickets_query(prefix: str = "R") -> str:
    """Tickets whose ids start with ``prefix`` that are at rest (or closed)."""
    states = ", ".join(f"'{s.value}'" for s in sorted(SETTLED_STATES))
    return (
        f"WorkflowType = '{names.TICKET_WORKFLOW}' AND WorkflowId STARTS_WITH "
        f"'{names.ticket_workflow_id(prefix)}' AND "
        f"({sa.TICKET_STATE.name} IN ({states}) OR ExecutionStatus != 'Running')"
    )


async def ticket_round(client: Client, straight: list[Ticket], n: int, done: int) -> float:
    run = uuid.uuid4().hex[:6]
    batch = [
        straight[i % len(straight)].model_copy(update={"ticket_id": f"R{run}-{i}"})
        for i in range(n)
    ]
    await ops.submit_tickets(client, batch)
    await wait_count(client, rested_tickets_query(), done + n)
    # Every one straight through, as every bare workflow completes: one that rested elsewhere
    # (waiting for a person, failed) did less and would pass for a faster ticket.
    completed = (
        await client.count_workflows(
            f"WorkflowId STARTS_WITH '{names.ticket_workflow_id(f'R{run}-')}' AND "
            f"{sa.TICKET_STATE.name} = '{TicketState.COMPLETED.value}'"
        )
    ).count
    if completed != n:
        raise SystemExit(
            f"{n - completed} of the round's {n} tickets did not complete straight through"
        )
    return n / await rest_span(client, rested_tickets_query(f"R{run}-"))


async def bare_round(
    client: Client,
    queue: str,
    activities: int,
    n: int,
    activity_queue: str | None = None,
    shape: list[list[int]] | None = None,
) -> float:
    run = uuid.uuid4().hex[:6]
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def start(i: int) -> None:
        async with gate:
            await client.start_workflow(
                BARE_WORKFLOW,
                args=[activities, activity_queue, shape],
                id=f"bare-{run}-{i}",
                task_queue=queue,
            )

    await asyncio.gather(*(start(i) for i in range(n)))
    query = (
        f"WorkflowType = '{BARE_WORKFLOW}' AND WorkflowId STARTS_WITH 'bare-{run}-' "
        "AND ExecutionStatus = 'Completed'"
    )
    await wait_count(client, query, n)
    return n / await rest_span(client, query)


async def bare_worker(stack: Stack, queue: str) -> "asyncio.subprocess.Process":
    import sys

    log = stack.data / "bare-worker.log"
    process = await asyncio.to_thread(
        spawn_logged,
        [sys.executable, "-m", "bench.bare_workflow", "--queue", queue],
        log,
        {**environment(stack.address, stack.data), "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + BARE_READY_TIMEOUT
    while "bare worker: polling" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the bare worker did not start; see {log}")
        await asyncio.sleep(0.2)
    return process  # type: ignore[return-value]


# The kinds measured side by side. The bare workflow's activities run on its own task queue, so
# the server hands each one to the worker in the workflow task's answer (eager dispatch); the
# ticket's agent calls run on their providers' rate-limited queues, where it cannot. The third
# kind is the bare workflow with its activities on a queue of their own, as the ticket's.
TICKETS, BARE, BARE_SEPARATE = "tickets", "bare", "bare, activities on their own queue"
# The bare workflow doing, in each workflow task, what the ticket asks of Temporal there (its
# patch markers, local activities, upserts and activities, on their own queue): tickets ÷ this
# is what the ticket's code costs, this ÷ bare what its use of Temporal costs. "Code" here also
# holds how a ticket is started (``ops.submit_tickets``: a describe before each start, a
# fairness key, a memo and a summary), where the bare kinds make a plain start.
SHAPED = "bare, shaped as the ticket"


async def run(n: int, rounds: int, sqlite: dict[str, object], server_metrics: bool = False) -> int:
    metrics_url = None
    server_options = dict(sqlite)
    if server_metrics:
        port = free_port()
        server_options["extra_args"] = ["--metrics-port", str(port)]
        metrics_url = f"http://127.0.0.1:{port}/metrics"
    counters: dict[str, Counter[tuple[str, str]]] = {}
    async with embedded_stack(**server_options) as stack:
        client = stack.client
        straight, history = await probe(client)
        ticket = history_cost(history)
        shape = ticket_shape(history)
        queue = f"bare-{uuid.uuid4().hex[:6]}"
        own_queue = activity_queue_of(queue)
        process = await bare_worker(stack, queue)
        try:
            await bare_round(client, queue, ticket.activities, 1)
            bare = history_cost(await _newest_bare_history(client))
            await bare_round(client, queue, ticket.activities, 1, own_queue)
            await bare_round(client, queue, ticket.activities, 1, own_queue, shape)
            shaped = history_cost(await _newest_bare_history(client))
            rates: dict[str, list[float]] = {TICKETS: [], BARE: [], BARE_SEPARATE: [], SHAPED: []}
            pids = {
                "Temporal server": stack.server_pid,
                "ticket worker": stack.worker.pid,
                "bare worker": process.pid,
                "this client": os.getpid(),
            }
            cpu: dict[str, Counter[str]] = {kind: Counter() for kind in rates}
            rounds_of = {
                TICKETS: lambda r: ticket_round(client, straight, n, r * n),
                BARE: lambda r: bare_round(client, queue, ticket.activities, n),
                BARE_SEPARATE: lambda r: bare_round(client, queue, ticket.activities, n, own_queue),
                SHAPED: lambda r: bare_round(client, queue, ticket.activities, n, own_queue, shape),
            }
            for r in range(rounds):
                line = []
                # Every other round in the reverse order: the server's CPU per workflow grows as
                # its database fills, and in a fixed order the tickets always ran first, on the
                # smallest database, and the shaped workflow always last.
                order = list(rounds_of.items())
                for kind, measure in order[::-1] if r % 2 else order:
                    if metrics_url:
                        read_before = await asyncio.to_thread(server_metrics_scrape, metrics_url)
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    rates[kind].append(await measure(r))
                    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    if metrics_url:
                        read_after = await asyncio.to_thread(server_metrics_scrape, metrics_url)
                        counters.setdefault(kind, Counter()).update(read_after)
                        counters[kind].subtract(read_before)
                    for name in pids:
                        cpu[kind][name] += after[name] - before[name]
                    server = after["Temporal server"] - before["Temporal server"]
                    line.append(
                        f"{kind} {rates[kind][-1]:.2f}/s (server CPU {1000 * server / n:.0f} ms)"
                    )
                this_round = rates[TICKETS][-1] / rates[BARE][-1]
                line.append(f"tickets ÷ bare {this_round:.2f}")
                print(f"round {r + 1}: " + "; ".join(line), flush=True)
        finally:
            process.terminate()
            await asyncio.to_thread(process.wait, 20)
    mean = {kind: sum(values) / len(values) for kind, values in rates.items()}
    settings = ", ".join(f"{k.removeprefix('sqlite_')}={v}" for k, v in sqlite.items()) or (
        "journal_mode=wal, synchronous=full (make run's)"
    )
    sandbox = "on" if workflow_sandbox() else "off"
    print(
        f"\nembedded dev server (SQLite {settings}), one worker process each; {n} of each per "
        f"round, {rounds} round(s), alternating (every other round in the reverse order); the "
        f"ticket and bare workers' workflows in the SDK's "
        f"sandbox: {sandbox} (TICKETS_WORKFLOW_SANDBOX)"
        + ("" if rounds % 2 == 0 else "; an odd number of rounds: the order is not balanced")
        + "\n"
    )
    print(
        "| workflow | events | workflow tasks | activities | local activities | "
        "search-attribute upserts | markers | billable actions |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(ticket.row("straight-through ticket"))
    print(bare.row(f"bare workflow, {ticket.activities} activities"))
    print(shaped.row(f"{SHAPED} (no memo)"))
    ratio = mean[TICKETS] / mean[BARE]
    print(
        "\n| throughput (mean of rounds) | workflows/s | tickets/s ÷ this |\n|---|---:|---:|\n"
        f"| tickets | {mean[TICKETS]:.2f} | |\n"
        f"| bare workflow (the target's measure) | {mean[BARE]:.2f} | {ratio:.2f} |\n"
        f"| {BARE_SEPARATE} | {mean[BARE_SEPARATE]:.2f} | "
        f"{mean[TICKETS] / mean[BARE_SEPARATE]:.2f} |\n"
        f"| {SHAPED} | {mean[SHAPED]:.2f} | {mean[TICKETS] / mean[SHAPED]:.2f} |"
    )
    print(
        f"\nAgent calls on a queue of their own ({BARE_SEPARATE} ÷ bare): "
        f"{mean[BARE_SEPARATE] / mean[BARE]:.2f}; the ticket's use of Temporal ({SHAPED} ÷ "
        f"bare): {mean[SHAPED] / mean[BARE]:.2f}; its code (tickets ÷ {SHAPED}): "
        f"{mean[TICKETS] / mean[SHAPED]:.2f}"
    )
    print(
        "\nWhere the time goes: CPU milliseconds per workflow, by process, in the same rounds\n"
        "\n| process | per ticket | per bare workflow | per bare, own activity queue | "
        "per bare, shaped as the ticket |\n|---|---:|---:|---:|---:|"
    )
    total = n * rounds
    for name in pids:
        print(
            f"| {name} | " + " | ".join(f"{1000 * cpu[k][name] / total:.1f}" for k in rates) + " |"
        )
    if counters:
        print(
            "\nThe server's own counters (its Prometheus endpoint), per workflow, in the same "
            f"rounds:\n\n{server_metrics_table(counters, total)}"
        )
    ok = ticket.events <= 40 and ratio >= 0.9
    verdict = "met" if ok else "MISSED"
    print(f"\ntarget (<= 40 events, >= 0.9 of the bare workflow's throughput): {verdict}")
    return 0 if ok else 1


async def _newest_bare_history(client: Client) -> WorkflowHistory:
    """The history of the bare workflow started last (called while there are a few)."""
    listed = [e async for e in client.list_workflows(f"WorkflowType = '{BARE_WORKFLOW}'")]
    newest = max(listed, key=lambda e: e.start_time)
    return await client.get_workflow_handle(newest.id, run_id=newest.run_id).fetch_history()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ticket_cost")
    parser.add_argument("--tickets", type=int, default=300, help="of each kind per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--synchronous", choices=["full", "normal", "off"])
    parser.add_argument("--journal", choices=["wal", "delete"])
    parser.add_argument(
        "--partitions", type=int, choices=[1, 4], help="task queue partitions (embedded: 1)"
    )
    parser.add_argument(
        "--no-fairness", action="store_true", help="the server's fairness off (embedded: on)"
    )
    parser.add_argument(
        "--no-search-attribute-cache",
        action="store_true",
        help="the server reads search attributes from its database on every use (start-dev's "
        "default; embedded: cached)",
    )
    parser.add_argument(
        "--transfer-reads",
        type=int,
        metavar="PER_SECOND",
        help="how often the server may read its transfer queue (the server's default, which "
        "the embedded server keeps: 20; starter/embedded.py)",
    )
    parser.add_argument(
        "--server-metrics",
        action="store_true",
        help="also read the server's request counters per workflow (its metrics endpoint)",
    )
    args = parser.parse_args(argv)
    sqlite: dict[str, object] = {}
    if args.no_fairness:
        sqlite["fairness"] = False
    if args.no_search_attribute_cache:
        sqlite["search_attribute_cache"] = False
    if args.transfer_reads:
        sqlite["transfer_reads_per_second"] = args.transfer_reads
    if args.synchronous:
        sqlite["sqlite_synchronous"] = args.synchronous
    if args.journal:
        sqlite["sqlite_journal_mode"] = args.journal
    if args.partitions:
        sqlite["task_queue_partitions"] = args.partitions
    return asyncio.run(run(args.tickets, args.rounds, sqlite, args.server_metrics))
