"""An LLM-bound run against a provider's rate limit, with and without the task-queue limit.

    python -m bench llm_rate_limit [--tickets N] [--rps R] [--latency S] [--workers W]
        [--headroom H] [--limited-only] [--compare-partitions] [--stop-one-after S]

A fake OpenAI-compatible server answers every call after a fixed latency and answers 429
(Retry-After: 1) to any request above R per second (a token bucket holding one second's worth,
as providers enforce theirs). The pipeline runs on a private embedded Temporal server (SQLite
file, as `make run` uses) with W `python -m worker` processes (the real worker, configured by a
pipeline file as a user would) and the real openai client, twice:
- "queue limit": the provider queue's server-side rate limit set to R activities per second
  (requests_per_minute = 60 R, rate_limit_headroom H: the queue runs at H x R);
- "no limit": no rate limit, only the workers' concurrency;
- with --compare-partitions, "queue limit" again on a server whose task queues have the
  server's default four partitions instead of the embedded server's one (the server splits a
  queue's rate over its partitions).
With --stop-one-after S, one of the W workers is stopped S seconds into each run: the seconds
after it show how soon the others take its share of the rate (each worker paces its share,
activities/providers/peers.py).
Reported: answered calls over the whole run (first request to last) / what the provider allowed
in that window (R a second, plus the second's worth its bucket holds at the start: answered / R
per second over the window read above 1.0 with nothing over the limit); the same over the part
of the run where demand can reach the limit (until fewer tickets are unfinished
than the limit allows calls per second: with fewer, even calls answered at once cannot keep
the provider busy); 429s received and their share of requests; tickets not completed; and where
the rest of the time went (before the first answer at the limit, after demand fell).
"""

import argparse
import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from bench.stack import embedded_server, openai_pipeline_file
from shared import names
from starter.embedded import SERVER_DEFAULT_PARTITIONS, TASK_QUEUE_PARTITIONS
from starter.worker_process import WorkerProcess
from tests.support.fake_llm import GOOD_OUTPUTS, FakeLLMServer, Recorded, Reply
from tests.support.llm_pipeline import OPENAI_KEY
from tests.support.processes import environment
from tests.support.tickets import make_ticket, start_ticket

CONCURRENCY = 32  # per worker, on the provider queue: demand far above the limit without one
MODEL = "gpt-4.1-mini"
TARGET = 0.95  # of the provider's limit, over the whole run
# The whole limit: what the target is about. The product's default is 0.9 (docs/providers.md).
DEFAULT_HEADROOM = 1.0
MAX_429_SHARE = 0.01  # of requests


def pipeline_file(
    path: Path, provider: str, base_url: str, rps: float, limited: bool, headroom: float
) -> Path:
    """The worker's configuration: every agent on one OpenAI-compatible provider (the fake)."""
    return openai_pipeline_file(
        path,
        provider,
        base_url,
        MODEL,
        max_concurrent=CONCURRENCY,
        requests_per_minute=rps * 60 if limited else None,
        headroom=headroom,
    )


@contextlib.asynccontextmanager
async def workers(
    data: Path, address: str, config: Path, count: int
) -> AsyncIterator[list[WorkerProcess]]:
    env = environment(address, data, TICKETS_CONFIG=str(config), OPENAI_API_KEY=OPENAI_KEY)
    started: list[WorkerProcess] = []
    try:
        for _ in range(count):
            # One data directory (keys, payload store, ledger) and log for all of them.
            process = WorkerProcess(data, address, env)
            await process.start()
            started.append(process)
        yield started
    finally:
        for process in started:
            await process.stop()


def allowed(rps: float, window: float) -> float:
    """The most calls the fake provider answers in ``window`` seconds: ``rps`` a second, and the
    second's worth its bucket holds when the run starts (tests/support/fake_llm_limits.py)."""
    return rps * (window + 1.0)


@dataclass
class Run:
    calls: list[Recorded]
    rate_limited: int
    done_at: list[float]  # when each completed ticket's result arrived
    started: float
    wall: float
    not_completed: int


def figures(run: Run, rps: float) -> dict[str, float]:
    calls = run.calls
    answered = [c.at for c in calls if c.reply is not None and c.reply.status == 200]
    first, last = calls[0].at, calls[-1].at
    whole = len(answered) / allowed(rps, last - first)
    # Demand can reach the limit while at least R tickets are unfinished (each has at most one
    # call in flight and a call takes at least the provider's latency, well under a second).
    done = sorted(run.done_at)
    keep_busy = math.ceil(rps)
    saturated_end = done[-keep_busy] if len(done) >= keep_busy else last
    in_part = [t for t in answered if t <= saturated_end]
    saturated = len(in_part) / allowed(rps, saturated_end - first) if saturated_end > first else 0.0
    # The first second in which the provider answered at the limit: the ramp-up before it.
    buckets = per_second(answered, first)
    ramp = next((i for i, n in enumerate(buckets) if n >= rps * TARGET), len(buckets))
    return {
        "requests": len(calls),
        "answered": len(answered),
        "whole": whole,
        "saturated": saturated,
        "first_call": first - run.started,
        "ramp": float(ramp),
        "tail": last - saturated_end,
        "window": last - first,
        "429s": run.rate_limited,
        "429_share": run.rate_limited / len(calls),
        "not_completed": run.not_completed,
        "wall": run.wall,
        "timeline": buckets,  # type: ignore[dict-item]
        "429_timeline": per_second(  # type: ignore[dict-item]
            [c.at for c in calls if c.reply is not None and c.reply.status == 429], first
        ),
    }


def per_second(times: list[float], start: float) -> list[int]:
    counts = [0] * (int(max(times, default=start) - start) + 1)
    for t in times:
        counts[int(t - start)] += 1
    return counts


async def scenario(
    client: Client,
    data: Path,
    address: str,
    args: argparse.Namespace,
    limited: bool,
) -> Run:
    with FakeLLMServer() as fake:
        fake.limit(args.rps)

        def answer(request: Recorded) -> Reply:
            return Reply(output=GOOD_OUTPUTS[request.output_name or ""], delay=args.latency)

        fake.responder = answer
        # A provider (so a queue) of its own per scenario: a rate limit the server keeps for a
        # queue from an earlier scenario's pollers must not apply to this one.
        provider = f"fake{uuid.uuid4().hex[:6]}"
        config = pipeline_file(
            data / f"{provider}.toml",
            provider,
            fake.openai_base_url,
            args.rps,
            limited,
            args.headroom,
        )
        async with workers(data, address, config, args.workers) as processes:
            started = time.monotonic()
            done_at: list[float] = []
            stopping = (
                asyncio.create_task(stop_one(processes[-1], args.stop_one_after))
                if args.stop_one_after is not None
                else None
            )

            async def one(i: int) -> str | None:
                ticket = make_ticket(ticket_id=f"B{i}-{provider}")
                handle = await start_ticket(client, names.TICKETS_TASK_QUEUE, ticket)
                try:
                    view = await handle.result()
                except Exception:  # a failed ticket is counted, not raised
                    return None
                done_at.append(time.monotonic())
                return str(view.state)

            try:
                states = await asyncio.gather(*(one(i) for i in range(args.tickets)))
            finally:
                if stopping is not None:  # a run over before S: the worker stops with the rest
                    stopping.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await stopping
            wall = time.monotonic() - started
        completed = sum(s == "COMPLETED" for s in states)
        return Run(
            fake.calls(), fake.rate_limited, done_at, started, wall, args.tickets - completed
        )


async def stop_one(process: WorkerProcess, after: float) -> None:
    """Stop a worker mid-run (a scale-down or a deploy): the others must take its share of the
    rate (activities/providers/peers.py), and its calls in flight are retried by them."""
    await asyncio.sleep(after)  # the run's schedule, not a wait for a condition
    print(f"stopping a worker {after:g} s after the tickets were started", flush=True)
    await process.stop()


async def run(args: argparse.Namespace) -> int:
    rows: dict[str, Run] = {}
    async with embedded_server(task_queue_partitions=TASK_QUEUE_PARTITIONS) as server:
        rows["queue limit"] = await scenario(server.client, server.data, server.address, args, True)
        if not args.limited_only:
            rows["no limit"] = await scenario(
                server.client, server.data, server.address, args, False
            )
    if args.compare_partitions:
        # The same queue limit split over the server's default four partitions.
        async with embedded_server(task_queue_partitions=SERVER_DEFAULT_PARTITIONS) as server:
            rows["queue limit, 4 partitions"] = await scenario(
                server.client, server.data, server.address, args, True
            )
    print(
        f"{args.tickets} tickets x 4 LLM calls; provider limit {args.rps:g} requests/s "
        f"({args.rps * 60:g}/min), {args.latency * 1000:.0f} ms per call; {args.workers} worker "
        f"process(es), {CONCURRENCY} concurrent calls each; queue limit at {args.headroom:g} of "
        f"the provider's (rate_limit_headroom); embedded server on SQLite, "
        f"{TASK_QUEUE_PARTITIONS} task queue partition(s) unless the row says otherwise\n"
    )
    print(
        "| run | answered / limit, whole run | / limit, while demand >= limit | requests | "
        "429s (share) | tickets not completed | first call | ramp to limit | tail | wall |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = {name: figures(r, args.rps) for name, r in rows.items()}
    for name, f in results.items():
        print(
            f"| {name} | {f['whole']:.3f} | {f['saturated']:.3f} | {f['requests']:.0f} | "
            f"{f['429s']:.0f} ({f['429_share']:.1%}) | {f['not_completed']:.0f} | "
            f"{f['first_call']:.1f} s | {f['ramp']:.0f} s | {f['tail']:.1f} s | {f['wall']:.1f} s |"
        )
    for name, f in results.items():
        print(f"\n{name}: answered calls in each second from the first request:")
        print(" ".join(str(n) for n in f["timeline"]))  # type: ignore[attr-defined]
        late = [f"{i} s: {n}" for i, n in enumerate(f["429_timeline"]) if n]  # type: ignore[arg-type]
        print(f"429s by second from the first request: {', '.join(late) or 'none'}")
    limited = results["queue limit"]
    ok = (
        limited["whole"] >= TARGET
        and limited["not_completed"] == 0
        and limited["429_share"] <= MAX_429_SHARE
    )
    print(
        f"\ntarget (queue limit: whole run >= {TARGET} of the limit, no ticket lost, 429s <= "
        f"{MAX_429_SHARE:.0%} of requests): {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench llm_rate_limit")
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--rps", type=float, default=10.0, help="the provider's limit per second")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per call")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--headroom",
        type=float,
        default=DEFAULT_HEADROOM,
        help="rate_limit_headroom: the share of the limit the queue is set to",
    )
    parser.add_argument(
        "--limited-only", action="store_true", help="skip the run without the queue limit"
    )
    parser.add_argument(
        "--stop-one-after",
        type=float,
        metavar="S",
        help="stop one worker S seconds after the tickets are started (needs --workers >= 2)",
    )
    parser.add_argument(
        "--compare-partitions",
        action="store_true",
        help="also run the queue limit on a server with the default four task queue partitions",
    )
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.workers < 1 or args.rps <= 0:
        parser.error("--tickets, --workers and --rps must be positive")
    if args.stop_one_after is not None and (args.workers < 2 or args.stop_one_after < 0):
        parser.error("--stop-one-after needs --workers 2 or more and a time of 0 or more")
    if not 0 < args.headroom <= 1:
        parser.error("--headroom must be above 0 and at most 1")
    return asyncio.run(run(args))
