"""The embedded server's SQLite settings side by side: what WAL with synchronous ``full`` (kept,
`make run`'s) costs against ``normal`` and against the rollback journal, in one run.

    python -m bench journal_modes [--tickets N] [--rounds R]

Three private embedded dev servers, one per setting, each with its own worker process (offline
agents), all started before the first round. Each round runs N straight-through tickets on each
server in turn (every other round in the reverse order: a server's CPU per workflow grows as its
database fills), timed by the server's clock from the first start to the last ticket at rest
(``ticket_cost``'s rounds); the idle stacks' workers wait on long polls meanwhile. Printed: each
setting's tickets/s (mean of the rounds) and its ratio to the kept one, and the CPU its server
and worker spent per ticket in those rounds.
"""

import argparse
import asyncio
import contextlib
from collections import Counter

from bench.machine import cpu_seconds
from bench.stack import Stack, embedded_stack
from bench.ticket_cost import probe, ticket_round
from shared.tickets import Ticket

KEPT = "WAL, synchronous full (kept)"
SETTINGS: dict[str, dict[str, object]] = {
    KEPT: {"sqlite_journal_mode": "wal", "sqlite_synchronous": "full"},
    "WAL, synchronous normal": {"sqlite_journal_mode": "wal", "sqlite_synchronous": "normal"},
    "rollback journal, synchronous full (start-dev's default)": {
        "sqlite_journal_mode": "delete",
        "sqlite_synchronous": "full",
    },
}


async def run(n: int, rounds: int) -> int:
    async with contextlib.AsyncExitStack() as stacks:
        ready: dict[str, tuple[Stack, list[Ticket]]] = {}
        for name, options in SETTINGS.items():
            # One at a time: each stack's client is made for its own data directory.
            stack = await stacks.enter_async_context(embedded_stack(**options))
            straight, _ = await probe(stack.client)
            ready[name] = (stack, straight)
        rates: dict[str, list[float]] = {name: [] for name in SETTINGS}
        cpu: dict[str, Counter[str]] = {name: Counter() for name in SETTINGS}
        for r in range(rounds):
            order = list(ready.items())
            line = []
            for name, (stack, straight) in order[::-1] if r % 2 else order:
                pids = {"server": stack.server_pid, "worker": stack.worker.pid}
                before = {p: cpu_seconds(pid) for p, pid in pids.items()}
                rates[name].append(await ticket_round(stack.client, straight, n, r * n))
                for p, pid in pids.items():
                    cpu[name][p] += cpu_seconds(pid) - before[p]
                line.append(f"{name}: {rates[name][-1]:.2f}/s")
            print(f"round {r + 1}: " + "; ".join(line), flush=True)
    mean = {name: sum(values) / len(values) for name, values in rates.items()}
    total = n * rounds
    print(
        f"\n{n} straight-through tickets per setting per round, {rounds} round(s), alternating"
        + ("" if rounds % 2 == 0 else " (an odd number of rounds: the order is not balanced)")
        + "; one embedded server and one worker process per setting\n"
    )
    print(
        "| SQLite setting | tickets/s | ÷ the kept one | server CPU per ticket | "
        "worker CPU per ticket |\n|---|---:|---:|---:|---:|"
    )
    for name in SETTINGS:
        print(
            f"| {name} | {mean[name]:.2f} | {mean[name] / mean[KEPT]:.2f} | "
            f"{1000 * cpu[name]['server'] / total:.1f} ms | "
            f"{1000 * cpu[name]['worker'] / total:.1f} ms |"
        )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench journal_modes")
    parser.add_argument("--tickets", type=int, default=150, help="per setting per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.tickets, args.rounds))
