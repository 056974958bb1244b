"""How close a swarm's sliding window comes to the ideal.

    python -m bench swarm_window [--items N] [--concurrency K] [--latency S] [--repeats R]

A fake OpenAI-compatible server (in its own process) answers every call after a fixed latency;
the real worker code and the real openai client call it. N items run as one SwarmWorkflow with
at most K in flight. The ideal wall time is ceil(N / K) x latency (K calls always in flight, no
overhead); reported is the median measured wall time (start to result) over that ideal, on two
local dev servers: in memory, and with the SQLite file `make run` uses (every event is written
to disk, on the same two cores as everything else). Target: <= 1.3 for 100 items, K = 20, 0.5 s.
The per-item latency percentiles are over every item of the same runs the median is taken over.
"""

import argparse
import asyncio
import contextlib
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from bench.remote_llm import RemoteLLM, remote_llm
from policy.stats import percentile
from shared import names
from shared.data_converter import data_converter
from shared.swarm import SwarmItem, SwarmResult, SwarmSettings, SwarmState
from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from starter.inputs import read_swarm_items
from tests.support.llm_pipeline import llm_pipeline, llm_setup
from tests.support.processes import PROJECT_ROOT, free_port
from tests.support.temporal import binary

TARGET = 1.3


def items(n: int) -> list[SwarmItem]:
    reviews, _ = read_swarm_items(PROJECT_ROOT / "samples" / "reviews.jsonl")
    return [SwarmItem(item_id=f"i{i:05d}", text=reviews[i % len(reviews)].text) for i in range(n)]


@contextlib.asynccontextmanager
async def server(kind: str, data: Path) -> AsyncIterator[Client]:
    if kind == "in memory":
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"), data_converter=data_converter(None)
        )
        try:
            yield env.client
        finally:
            await env.shutdown()
        return
    embedded = EmbeddedServer(data, "127.0.0.1", free_port(), ui=False)
    await embedded.start()
    try:
        yield await connect(connection_settings({"TEMPORAL_ADDRESS": embedded.address}))
    finally:
        await embedded.stop()


async def measure(
    kind: str, fake: RemoteLLM, n: int, concurrency: int, repeats: int
) -> tuple[list[float], list[SwarmResult]]:
    """The wall time and the result of each of ``repeats`` runs."""
    walls: list[float] = []
    results: list[SwarmResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        setup = llm_setup(fake, provider_overrides={"max_concurrent": concurrency * 2})
        async with server(kind, data) as client:
            queue = f"bench-{uuid.uuid4().hex[:6]}"
            async with llm_pipeline(client, queue, data, setup):
                for run in range(repeats):
                    started = time.perf_counter()
                    result = await client.execute_workflow(
                        names.SWARM_WORKFLOW,
                        args=[
                            items(n),
                            SwarmState(settings=SwarmSettings(concurrency=concurrency)),
                        ],
                        id=f"swarm-bench-{queue}-{run}",
                        task_queue=queue,
                        result_type=SwarmResult,
                    )
                    walls.append(time.perf_counter() - started)
                    results.append(result)
    return walls, results


async def run(n: int, concurrency: int, latency: float, repeats: int) -> int:
    ideal = math.ceil(n / concurrency) * latency
    print(
        f"{n} items, {concurrency} at a time, {latency * 1000:.0f} ms per call (fake "
        f"OpenAI-compatible server in its own process; real worker and openai client); "
        f"median of {repeats} runs\n"
    )
    print(
        f"| server | succeeded ({repeats} runs) | failed | wall (median) | ideal | wall / ideal | "
        "item p50 | p95 | p99 (all runs) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    with remote_llm(latency) as fake:
        for kind in ("in memory", "SQLite file"):
            walls, results = await measure(kind, fake, n, concurrency, repeats)
            wall = statistics.median(walls)
            ratios[kind] = wall / ideal
            # Item latencies of every run the median is over, not only the last run's.
            latencies = [
                r.usage.latency_ms for result in results for r in result.outputs if r.ok and r.usage
            ]
            succeeded = sum(r.succeeded for r in results)
            failed = sum(r.failed for r in results)
            print(
                f"| dev server, {kind} | {succeeded} | {failed} | {wall:.2f} s | "
                f"{ideal:.2f} s | {wall / ideal:.2f} | {percentile(latencies, 50):.0f} ms | "
                f"{percentile(latencies, 95):.0f} ms | {percentile(latencies, 99):.0f} ms |"
            )
    ok = ratios["in memory"] <= TARGET
    print(f"\ntarget (in memory: wall / ideal <= {TARGET}): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench swarm_window")
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per call")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.items, args.concurrency, args.latency, args.repeats))
