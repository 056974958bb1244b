"""How close a swarm's sliding window comes to the ideal.

    python -m bench swarm_window [--items N] [--concurrency K] [--latency S] [--repeats R]
                                 [--transfer-reads PER_SECOND]
    TICKETS_WORKFLOW_SANDBOX=off python -m bench swarm_window ...   (the worker unsandboxed)

A fake OpenAI-compatible server (in its own process) answers every call after a fixed latency;
the real worker code and the real openai client call it. N items run as one SwarmWorkflow with
at most K in flight. The ideal wall time is ceil(N / K) x latency (K calls always in flight, no
overhead); reported is the median measured wall time (start to result) over that ideal, on two
local dev servers: in memory, and with the SQLite file `make run` uses (every event is written
to disk, on the same two cores as everything else). Target: <= 1.2 on the SQLite file for 100
items, K = 20, 0.5 s, median of 5 runs. The per-item latency percentiles are over every item of
the same runs the median is taken over.

Where the time goes (from the history that holds the calls: the swarm's own, as 100 items are
one chunk and a swarm of one chunk runs it itself since single-chunk-inline; the chunk child's
before; medians over every item of every run): the start (client start to the first agent call
scheduled: the swarm's first task with its configuration snapshot), each call's dispatch
(scheduled to started on a worker), the call itself (started to completed: the provider's
latency and the client), the refill (a call completed to the call that takes its place
scheduled: one workflow task), and the end (last call completed to the result at the client:
the last task). That history's workflow tasks (how many a run took) split each refill in two:
the wait (scheduled to started: the server's transfer queue, matching and a poller) and the work
(started to completed: the worker's activation, which takes the completed calls in and starts
their successors).
Last, the CPU each process spent per item over the same runs: the worker (in this process, with
the client), the Temporal server (on the SQLite file; the in-memory server's process is not
known) and the fake provider.

The SQLite file is measured twice: with one worker process polling every queue (as `make run`
starts it), and with the agent calls in a worker process of their own (`python -m worker
--queues llm-<provider>`, beside this process's worker for the workflows): the topology a
deployment that scales its agent workers apart from its workflow workers runs
(docs/deploy.md), and on two cores the one that keeps a generation's completions from queueing
behind its workflow tasks on one interpreter.

`--transfer-reads N` adds the one-process row again on a server that may read its transfer
queue N times a second instead of the server's default 20 (`start-dev` has one history shard,
so 20 is the whole server's; starter/embedded.py).
"""

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.machine import cpu_seconds
from bench.remote_llm import RemoteLLM, remote_llm
from bench.stack import Server, embedded_server, openai_pipeline_file
from policy.stats import percentile
from shared import names
from shared.data_converter import data_converter
from shared.settings import workflow_sandbox
from shared.swarm import SwarmItem, SwarmResult, SwarmSettings, SwarmState
from starter.inputs import read_swarm_items
from starter.worker_process import WorkerProcess
from tests.support.llm_pipeline import MODELS, OPENAI_KEY, LLMSetup, llm_pipeline, llm_setup
from tests.support.processes import PROJECT_ROOT, environment
from tests.support.temporal import DEV_SERVER_STARTUP, binary

TARGET = 1.2  # wall / ideal on the SQLite file
ONE_PROCESS = "SQLite file, one worker process"
AGENTS_APART = "SQLite file, agent calls in a second process"


@dataclass(frozen=True)
class Row:
    """What a row runs on: the server, whether the agent calls have a worker process of their
    own, and how often the server may read its transfer queue (None: its default, 20)."""

    server: str
    agents_apart: bool = False
    transfer_reads: int | None = None


ROWS = {
    "in memory": Row("in memory"),
    ONE_PROCESS: Row("SQLite file"),
    AGENTS_APART: Row("SQLite file", agents_apart=True),
}


def more_reads(transfer_reads: int) -> tuple[str, Row]:
    """With --transfer-reads N: the one-process row again, on a server that may read its
    transfer queue N times a second instead of the default 20 (starter/embedded.py)."""
    label = f"SQLite file, one worker process, {transfer_reads} transfer reads/s"
    return label, Row("SQLite file", transfer_reads=transfer_reads)


# The worker's workflow sandbox, as the real worker reads it (TICKETS_WORKFLOW_SANDBOX).
SANDBOXED = workflow_sandbox(os.environ)


def items(n: int) -> list[SwarmItem]:
    reviews, _ = read_swarm_items(PROJECT_ROOT / "samples" / "reviews.jsonl")
    return [SwarmItem(item_id=f"i{i:05d}", text=reviews[i % len(reviews)].text) for i in range(n)]


@contextlib.asynccontextmanager
async def server(kind: str, transfer_reads: int | None = None) -> AsyncIterator[Server]:
    """The server, its client, a data directory for the worker's stores, and the server's
    process id where known (for its CPU time)."""
    if kind == "SQLite file":
        async with embedded_server(transfer_reads_per_second=transfer_reads) as embedded:
            yield embedded
        return
    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"),
            data_converter=data_converter(None),
            dev_server_startup_timeout=DEV_SERVER_STARTUP,
        )
        try:
            yield Server(env.client, Path(tmp), "", None)
        finally:
            await env.shutdown()


@dataclass
class Parts:
    start: float = 0.0
    end: float = 0.0
    dispatch: list[float] = field(default_factory=list)
    call: list[float] = field(default_factory=list)
    refill: list[float] = field(default_factory=list)
    # The workflow tasks of the history holding the calls: scheduled to started (waiting for
    # the server and a poller), started to completed (the worker's activation: completions in,
    # calls out).
    task_wait: list[float] = field(default_factory=list)
    task_work: list[float] = field(default_factory=list)
    started: dict[int, float] = field(default_factory=dict)
    # CPU seconds the run took, by process (the worker runs in this process, with the client).
    cpu: dict[str, float] = field(default_factory=dict)


def seconds(event: Any) -> float:
    return float(event.event_time.ToMicroseconds()) / 1e6


async def breakdown(client: Client, parent_id: str, started_at: float, ended_at: float) -> Parts:
    """Where one run's time went, from the history that holds its calls (see the module's
    docstring): the swarm's own since single-chunk-inline, else its chunk's."""
    events = (await client.get_workflow_handle(parent_id).fetch_history()).events
    if not any(e.HasField("activity_task_scheduled_event_attributes") for e in events):
        chunk = client.get_workflow_handle(f"{parent_id}/chunk-0")
        events = (await chunk.fetch_history()).events
    scheduled: dict[int, float] = {}
    task_of: dict[int, int] = {}  # scheduled event -> the workflow task that scheduled it
    parts = Parts()
    completions: list[float] = []
    task_scheduled = task_started = 0.0
    for e in events:
        if e.HasField("workflow_task_scheduled_event_attributes"):
            task_scheduled = seconds(e)
        elif e.HasField("workflow_task_started_event_attributes"):
            task_started = seconds(e)
            parts.task_wait.append(task_started - task_scheduled)
        elif e.HasField("workflow_task_completed_event_attributes"):
            parts.task_work.append(seconds(e) - task_started)
        elif e.HasField("activity_task_scheduled_event_attributes"):
            scheduled[e.event_id] = seconds(e)
            attributes = e.activity_task_scheduled_event_attributes
            task_of[e.event_id] = attributes.workflow_task_completed_event_id
        elif e.HasField("activity_task_started_event_attributes"):
            at = scheduled[e.activity_task_started_event_attributes.scheduled_event_id]
            parts.dispatch.append(seconds(e) - at)
            parts.started[e.activity_task_started_event_attributes.scheduled_event_id] = seconds(e)
        elif e.HasField("activity_task_completed_event_attributes"):
            sid = e.activity_task_completed_event_attributes.scheduled_event_id
            parts.call.append(seconds(e) - parts.started[sid])
            completions.append(seconds(e))
    # The calls the first workflow task started fill the window; each later one takes the
    # place of a completed call: the i-th of them refills after the i-th completion.
    first_task = min(task_of.values())
    firsts = sorted(scheduled.values())
    refills = sorted(t for sid, t in scheduled.items() if task_of[sid] != first_task)
    parts.refill = [r - c for r, c in zip(refills, sorted(completions), strict=False)]
    parts.start = firsts[0] - started_at
    parts.end = ended_at - max(completions)
    return parts


def agents_config(path: Path, setup: LLMSetup, base_url: str, concurrency: int) -> Path:
    """The agents process's configuration: the same provider, under the same name, as
    ``setup`` (the workflows' worker routes every agent to it)."""
    return openai_pipeline_file(
        path,
        setup.names["openai"],
        base_url,
        MODELS["openai"],
        max_concurrent=concurrency,
        adaptive_limit=False,
    )


@contextlib.asynccontextmanager
async def agents_process(
    running: Server, setup: LLMSetup, base_url: str, concurrency: int
) -> AsyncIterator[int]:
    """``python -m worker`` polling only the provider's queue; yields its process id."""
    config = agents_config(
        running.data / f"{setup.names['openai']}.toml", setup, base_url, concurrency
    )
    env = environment(
        running.address, running.data, TICKETS_CONFIG=str(config), OPENAI_API_KEY=OPENAI_KEY
    )
    process = WorkerProcess(
        running.data, running.address, env, [names.llm_task_queue(setup.names["openai"])]
    )
    try:
        await process.start()
        yield process.pid
    finally:
        await process.stop()


async def measure(
    row: Row, fake: RemoteLLM, n: int, concurrency: int, repeats: int
) -> tuple[list[float], list[SwarmResult], list[Parts], float]:
    """The wall time, the result and the breakdown of each of ``repeats`` runs, and the wall
    time of the warm-up run before them (the row's first, on a fresh server and worker: cold
    connections and code paths, its first 20 calls taking twice the latency). It is printed,
    not counted: it sat in the median of 5 as its highest value, which made the median the
    upper middle of the warm runs."""
    warm_up = 0.0
    walls: list[float] = []
    results: list[SwarmResult] = []
    parts: list[Parts] = []
    setup = llm_setup(fake, provider_overrides={"max_concurrent": concurrency * 2})
    async with (
        server(row.server, row.transfer_reads) as running,
        contextlib.AsyncExitStack() as stack,
    ):
        client = running.client
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        pids = {"worker": os.getpid(), "Temporal server": running.pid, "provider": fake.pid}
        if row.agents_apart:
            pids["agents process"] = await stack.enter_async_context(
                agents_process(running, setup, fake.openai_base_url, concurrency * 2)
            )
        async with llm_pipeline(
            client, queue, running.data, setup, SANDBOXED, agent_queues=not row.agents_apart
        ):
            for run in range(repeats + 1):
                before = {name: cpu_seconds(pid) for name, pid in pids.items() if pid}
                started = time.perf_counter()
                started_at = time.time()
                workflow_id = f"swarm-bench-{queue}-{run}"
                result = await client.execute_workflow(
                    names.SWARM_WORKFLOW,
                    args=[
                        items(n),
                        SwarmState(settings=SwarmSettings(concurrency=concurrency)),
                    ],
                    id=workflow_id,
                    task_queue=queue,
                    result_type=SwarmResult,
                )
                if run == 0:
                    warm_up = time.perf_counter() - started
                    continue
                walls.append(time.perf_counter() - started)
                used = {name: cpu_seconds(pids[name]) - at for name, at in before.items()}
                results.append(result)
                parts.append(await breakdown(client, workflow_id, started_at, time.time()))
                parts[-1].cpu = used
    return walls, results, parts, warm_up


def cpu_per_item(runs: list[Parts], process: str, n: int) -> str:
    values = [p.cpu[process] for p in runs if process in p.cpu]
    return f"{statistics.median(values) * 1000 / n:.1f}" if values else "-"


async def run(
    n: int, concurrency: int, latency: float, repeats: int, transfer_reads: int | None
) -> int:
    ideal = math.ceil(n / concurrency) * latency
    print(
        f"{n} items, {concurrency} at a time, {latency * 1000:.0f} ms per call (fake "
        f"OpenAI-compatible server in its own process; real worker and openai client); "
        f"median of {repeats} runs after a warm-up run (shown, not counted); workflow "
        f"sandbox {'on' if SANDBOXED else 'off'} (TICKETS_WORKFLOW_SANDBOX)\n"
    )
    print(
        f"| server | succeeded ({repeats} runs) | failed | wall (median) | ideal | wall / ideal | "
        f"warm-up / ideal | the first {repeats} runs, warm-up counted: median / ideal | "
        "item p50 | p95 | p99 (all runs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    failures: dict[str, int] = {}
    where: dict[str, list[Parts]] = {}
    with remote_llm(latency) as fake:
        rows = dict([*ROWS.items(), *([more_reads(transfer_reads)] if transfer_reads else [])])
        for label, row in rows.items():
            walls, results, where[label], warm_up = await measure(
                row, fake, n, concurrency, repeats
            )
            wall = statistics.median(walls)
            ratios[label] = wall / ideal
            # The median as a fresh start would see it, the cold run among the five (the
            # issue's "median of 5 runs" does not say which): printed beside, not the verdict's.
            with_cold = statistics.median([warm_up, *walls][:repeats])
            # Item latencies of every run the median is over, not only the last run's.
            latencies = [
                r.usage.latency_ms for result in results for r in result.outputs if r.ok and r.usage
            ]
            succeeded = sum(r.succeeded for r in results)
            failed = sum(r.failed for r in results)
            failures[label] = failed
            print(
                f"| dev server, {label} | {succeeded} | {failed} | {wall:.2f} s | "
                f"{ideal:.2f} s | {wall / ideal:.3f} | {warm_up / ideal:.3f} | "
                f"{with_cold / ideal:.3f} | {percentile(latencies, 50):.0f} ms | "
                f"{percentile(latencies, 95):.0f} ms | {percentile(latencies, 99):.0f} ms |"
            )
    print(
        "\nWhere the time goes (medians; start and end per run, the rest per item):\n\n"
        "| server | start | dispatch | call | refill | end | workflow tasks | their wait "
        "| their work | work per run |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    for label, runs in where.items():

        def ms(values: list[float]) -> str:
            return f"{statistics.median(values) * 1000:.0f} ms" if values else "-"

        print(
            f"| {label} | {ms([p.start for p in runs])} | "
            f"{ms([d for p in runs for d in p.dispatch])} | "
            f"{ms([c for p in runs for c in p.call])} | "
            f"{ms([r for p in runs for r in p.refill])} | {ms([p.end for p in runs])} | "
            f"{statistics.median(len(p.task_work) for p in runs):.0f} | "
            f"{ms([w for p in runs for w in p.task_wait])} | "
            f"{ms([w for p in runs for w in p.task_work])} | "
            f"{ms([sum(p.task_work) for p in runs])} |"
        )
    print(
        "\nCPU per item (milliseconds, medians of the runs; the worker runs in this process, "
        "with the client):\n\n| server | worker | agents process | Temporal server | provider |"
        "\n|---|---:|---:|---:|---:|"
    )
    processes = ("worker", "agents process", "Temporal server", "provider")
    for label, runs in where.items():
        print(f"| {label} | {' | '.join(cpu_per_item(runs, name, n) for name in processes)} |")
    print()

    def met(label: str) -> bool:
        # A run whose items failed ended sooner than one doing all the work: not met (a review,
        # 2026-12-07: the verdict read the wall time alone).
        return ratios[label] <= TARGET and not failures[label]

    for label in (ONE_PROCESS, AGENTS_APART):
        verdict = "met" if met(label) else "MISSED"
        failed = f", {failures[label]} item(s) failed" if failures[label] else ""
        # The value beside the verdict, to as many places as tell it from the target: 1.204
        # printed as 1.20 beside MISSED.
        print(f"target ({label}: wall / ideal <= {TARGET}): {ratios[label]:.3f}{failed}, {verdict}")
    # The exit status follows the one-process worker: what `make run` and the compose file run.
    return 0 if met(ONE_PROCESS) else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench swarm_window")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--transfer-reads",
        type=int,
        metavar="PER_SECOND",
        help="add the one-process row on a server that may read its transfer queue this often "
        "(the server's default, which the other rows run: 20)",
    )
    args = parser.parse_args(argv)
    return asyncio.run(
        run(args.items, args.concurrency, args.latency, args.repeats, args.transfer_reads)
    )
