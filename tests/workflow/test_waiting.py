"""Waiting for tickets costs a bounded number of requests per interval, however many wait: one
visibility request for the whole set, and each ticket's status fetched once, when it rests. On
the dev server (the time-skipping server has no real visibility store)."""

import asyncio
import uuid
from collections import Counter
from typing import Any

from temporalio.client import (
    Client,
    CountWorkflowsInput,
    DescribeWorkflowInput,
    Interceptor,
    ListWorkflowsInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionDescription,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from shared.waiting import wait_settled
from tests.support.fakes import FakeTicketServices
from tests.support.temporal import status, wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import running
from workflows import ALL_WORKFLOWS

# Polling interval of the waits below, and how many of its rounds the wait makes while every
# ticket waits for an agent (counted, not timed: a busy machine makes each round slower).
INTERVAL = 0.1
ROUNDS = 5


class CountingRequests(Interceptor):
    """Counts the client's visibility, describe and query requests, by kind."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counts = self.counts

        class Counting(OutboundInterceptor):
            def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
                counts["list"] += 1
                return super().list_workflows(input)

            async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
                counts["count"] += 1
                return await super().count_workflows(input)

            async def describe_workflow(
                self, input: DescribeWorkflowInput
            ) -> WorkflowExecutionDescription:
                counts["describe"] += 1
                return await super().describe_workflow(input)

            async def query_workflow(self, input: QueryWorkflowInput) -> Any:
                counts["query"] += 1
                return await super().query_workflow(input)

        return Counting(next)


async def waiting_costs(env: WorkflowEnvironment, tickets: int) -> tuple[Counter[str], float, int]:
    """The requests made while ``tickets`` tickets wait for an agent that never answers (no
    worker polls the agents' queue), over at least ROUNDS of the wait's visibility requests,
    how long that took (the event loop's clock, from before the wait began), and how many waits
    ended. Then the tickets are terminated: a closed ticket rests."""
    counter = CountingRequests()
    config = env.client.config()
    client = Client(**{**config, "interceptors": [*config["interceptors"], counter]})
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    services = FakeTicketServices()  # its agents' queue has no worker
    workflows = Worker(
        env.client, task_queue=queue, workflows=ALL_WORKFLOWS, activities=services.activities()
    )
    async with running([workflows]):
        return await _wait_and_count(env, client, counter, queue, tickets)


async def _wait_and_count(
    env: WorkflowEnvironment, client: Client, counter: CountingRequests, queue: str, tickets: int
) -> tuple[Counter[str], float, int]:
    handles = await asyncio.gather(
        *(
            start_ticket(env.client, queue, make_ticket(ticket_id=f"W{uuid.uuid4().hex[:8]}"))
            for _ in range(tickets)
        )
    )
    ids = [names.ticket_id_from_workflow_id(h.id) for h in handles]
    loop = asyncio.get_running_loop()
    began = loop.time()
    waiting = asyncio.create_task(wait_settled(client, ids, timeout=60, interval=INTERVAL))
    # Nothing can rest (every ticket waits for its agent) while the wait makes its rounds.
    await wait_until(
        lambda: counter.counts["list"] >= ROUNDS or waiting.done(),
        timeout=60,
        interval=INTERVAL / 2,
        what=f"{ROUNDS} visibility requests",
    )
    # Counted and timed at the same instant (nothing awaited between).
    while_pending, elapsed = Counter(counter.counts), loop.time() - began
    # Each ticket has run its first workflow task (a ticket closed before that has no state a
    # status query could replay); asked through the test's own client, which counts nothing.
    await asyncio.gather(*(wait_until(lambda h=h: status(h), timeout=30) for h in handles))
    await asyncio.gather(*(h.terminate("rests now") for h in handles))
    views = await waiting
    assert not counter.counts["count"]
    # Every ticket's full status was read exactly once, when it rested: a describe (a completed
    # ticket's view is its result) and, these having been terminated, the status query.
    assert counter.counts["describe"] == tickets
    assert counter.counts["query"] == tickets
    return while_pending, elapsed, len(views)


async def test_waiting_for_fifty_tickets_sends_as_many_requests_per_interval_as_for_one(
    dev_env: WorkflowEnvironment,
) -> None:
    one, one_took, answered_one = await waiting_costs(dev_env, 1)
    fifty, fifty_took, answered_fifty = await waiting_costs(dev_env, 50)
    assert (answered_one, answered_fifty) == (1, 50)
    for pending, took in ((one, one_took), (fifty, fifty_took)):
        # While nothing rests: no status read at all, and at most one visibility request per
        # interval for the whole set. Each request after the first follows a full interval's
        # pause, so n requests take at least (n - 1) intervals: a bound a busy machine cannot
        # break (it only makes fewer requests in the time), measured against the time the
        # requests actually took rather than a nominal second compared across two runs.
        assert pending["query"] == pending["describe"] == 0, pending
        assert pending["list"] >= ROUNDS, pending
        assert (pending["list"] - 1) * INTERVAL <= took + 1e-3, (pending, f"{took:.3f}s")
