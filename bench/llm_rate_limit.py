"""An LLM-bound run against a provider's rate limit, with and without the task-queue limit.

    python -m bench llm_rate_limit [--tickets N] [--rps R] [--latency S]

A fake OpenAI-compatible server answers every call after a fixed latency and answers 429
(Retry-After: 1) to any request above R per second. The pipeline runs on a private embedded
Temporal server with the real worker code and the real openai client, twice:
- "queue limit": the provider queue's server-side rate limit set to R activities per second
  (requests_per_minute = 60 R, headroom 1.0);
- "no limit": no rate limit, only the worker's concurrency.
Reported: achieved successful calls per second / R, 429s received, tickets not completed.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client

from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from tests.support.fake_llm import GOOD_OUTPUTS, FakeLLMServer, Recorded, Reply
from tests.support.llm_pipeline import llm_pipeline, llm_setup
from tests.support.processes import free_port
from tests.support.tickets import make_ticket, start_ticket

CONCURRENCY = 32  # per worker, on the provider queue: demand far above the limit without one


async def scenario(
    client: Client, data: Path, tickets: int, rps: float, latency: float, limited: bool
) -> dict[str, float]:
    with FakeLLMServer() as fake:
        fake.requests_per_second = rps

        def answer(request: Recorded) -> Reply:
            return Reply(output=GOOD_OUTPUTS[request.output_name or ""], delay=latency)

        fake.responder = answer
        setup = llm_setup(
            fake,
            provider_overrides={
                "requests_per_minute": rps * 60 if limited else None,
                "rate_limit_headroom": 1.0,
                "max_concurrent": CONCURRENCY,
            },
        )
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        async with llm_pipeline(client, queue, data, setup):
            handles = [
                await start_ticket(client, queue, make_ticket(ticket_id=f"B{i}-{queue}"))
                for i in range(tickets)
            ]
            results = await asyncio.gather(*(h.result() for h in handles), return_exceptions=True)
        wall = time.monotonic() - started
        calls = fake.calls()
    answered = len(calls) - fake.rate_limited
    window = (calls[-1].at - calls[0].at) if len(calls) > 1 else wall
    # Steady state: the middle 80% of requests, without the ramp-up and the sequential tail of
    # the last tickets. Requests here include 429ed ones; scale by the share answered.
    lo, hi = len(calls) // 10, len(calls) * 9 // 10
    middle = (hi - lo) / (calls[hi].at - calls[lo].at) if hi > lo else 0.0
    steady = middle * answered / len(calls) if calls else 0.0
    completed = sum(getattr(r, "state", None) == "COMPLETED" for r in results)
    return {
        "answered": answered,
        "rate": answered / window,
        "ratio": answered / window / rps,
        "steady": steady / rps,
        "429s": fake.rate_limited,
        "not_completed": tickets - completed,
        "wall": wall,
    }


async def run(tickets: int, rps: float, latency: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        server = EmbeddedServer(data, "127.0.0.1", free_port(), ui=False)
        await server.start()
        try:
            client = await connect(connection_settings({"TEMPORAL_ADDRESS": server.address}))
            rows = {
                "queue limit": await scenario(client, data, tickets, rps, latency, limited=True),
                "no limit": await scenario(client, data, tickets, rps, latency, limited=False),
            }
        finally:
            await server.stop()
    print(
        f"{tickets} tickets x 4 LLM calls; provider limit {rps:g} requests/s "
        f"({rps * 60:g}/min), {latency * 1000:.0f} ms per call, {CONCURRENCY} concurrent calls "
        "per worker\n"
    )
    print(
        "| run | answered calls/s (whole run) | / limit | / limit, steady state | "
        "429s received | tickets not completed | wall |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['rate']:.2f} | {r['ratio']:.2f} | {r['steady']:.2f} | "
            f"{r['429s']:.0f} | {r['not_completed']:.0f} | {r['wall']:.1f} s |"
        )
    ok = rows["queue limit"]["steady"] >= 0.95 and rows["queue limit"]["not_completed"] == 0
    verdict = "met" if ok else "MISSED"
    print(f"\ntarget (queue limit: steady state >= 0.95 of the limit, no ticket lost): {verdict}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench llm_rate_limit")
    parser.add_argument("--tickets", type=int, default=100)
    parser.add_argument("--rps", type=float, default=10.0, help="the provider's limit per second")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per call")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.tickets, args.rps, args.latency))
