"""The review queue with thousands waiting: reading every waiting ticket's record and sorting,
against finding the oldest deadlines by counting (shared/ticket_listing.py ``review_queue``),
side by side on one embedded server.

    python -m bench review_queue [--waiting N] [--shown S] [--rounds R]

Starts the embedded server (SQLite file, as `make run`), starts N ticket workflows waiting for a
person on a task queue no worker polls (their search attributes as a waiting ticket's: state,
an SLA deadline within three days either side of now, one in twenty without one), waits until
the visibility store lists them all, then reads the queue's S most urgent both ways, alternating,
R rounds. Prints the median time of each, the visibility requests each made, and whether the
two found the same tickets. Default: 5,000 waiting, 1,000 shown (the API's), 3 rounds.
"""

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from bench.stack import embedded_server
from policy.transitions import TicketState
from shared import names
from shared import search_attributes as sa
from shared import ticket_listing as listing
from tests.support.temporal import wait_until

NOBODY = "bench-review-queue-nobody-polls"
STARTS_AT_ONCE = 50
# What the queue read whole before (its scan limit then): every waiting ticket, up to this many.
READ_ALL_BEFORE = 20_000


class CountingClient:
    """The client, counting the visibility requests the queue makes."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.lists = 0
        self.counts = 0

    def list_workflows(self, *args: object, **kwargs: object) -> object:
        self.lists += 1
        return self._client.list_workflows(*args, **kwargs)  # type: ignore[arg-type]

    async def count_workflows(self, *args: object, **kwargs: object) -> object:
        self.counts += 1
        return await self._client.count_workflows(*args, **kwargs)  # type: ignore[arg-type]


async def start_waiting(client: Client, n: int) -> None:
    now = datetime.now(UTC)
    rng = random.Random(7)

    async def start(i: int) -> None:
        pairs = [SearchAttributePair(sa.TICKET_STATE, TicketState.AWAITING_REVIEW.value)]
        if i % 20:
            offset = timedelta(seconds=rng.uniform(-3 * 86_400, 3 * 86_400))
            pairs.append(SearchAttributePair(sa.TICKET_SLA_DEADLINE, now + offset))
        await client.start_workflow(
            names.TICKET_WORKFLOW,
            "never run: no worker polls this queue",
            id=names.ticket_workflow_id(f"RQ-{i:06d}"),
            task_queue=NOBODY,
            search_attributes=TypedSearchAttributes(pairs),
            memo={sa.MEMO_SUBJECT: f"waiting ticket {i}"},
        )

    for first in range(0, n, STARTS_AT_ONCE):
        await asyncio.gather(*(start(i) for i in range(first, min(n, first + STARTS_AT_ONCE))))
    query = listing.ticket_query(TicketState.AWAITING_REVIEW)

    async def all_listed() -> bool:
        return (await client.count_workflows(query)).count >= n

    await wait_until(all_listed, timeout=300, interval=0.5, what="the tickets in visibility")


async def run(waiting: int, shown: int, rounds: int) -> int:
    async with embedded_server() as server:
        started = time.perf_counter()
        await start_waiting(server.client, waiting)
        print(f"{waiting:,} waiting tickets started in {time.perf_counter() - started:.1f} s\n")
        ways = {
            "read every record, sort (as before, plus a count)": READ_ALL_BEFORE,
            "count on the deadline (now)": listing.REVIEW_READ_ALL,
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        requests: dict[str, tuple[int, int]] = {}
        found: dict[str, list[str]] = {}
        order = list(ways.items())
        for round_no in range(rounds):
            # Each first in turn: the second read a visibility store the first had just warmed
            # (a review, 2026-12-07: "read every record" always ran first).
            for way, read_all_up_to in order if round_no % 2 == 0 else order[::-1]:
                client = CountingClient(server.client)
                began = time.perf_counter()
                read = await listing.review_queue(client, shown, read_all_up_to)  # type: ignore[arg-type]
                times[way].append(time.perf_counter() - began)
                requests[way] = (client.lists, client.counts)
                found[way] = [t.ticket_id for t in read.tickets]
    print(f"The {shown:,} most urgent of {waiting:,} waiting, {rounds} rounds alternating:\n")
    print("| way | median time | listings (each paged) | count requests |\n|---|---:|---:|---:|")
    for way in ways:
        lists, counts = requests[way]
        print(f"| {way} | {statistics.median(times[way]) * 1000:,.0f} ms | {lists} | {counts} |")
    before, now = (statistics.median(times[w]) for w in ways)
    same = len({tuple(f) for f in found.values()}) == 1
    print(f"\nnow / before: {now / before:.2f}; the same tickets in the same order: {same}")
    return 0 if same else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench review_queue")
    parser.add_argument("--waiting", type=int, default=5_000)
    parser.add_argument("--shown", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.waiting, args.shown, args.rounds))
