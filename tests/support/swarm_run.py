"""Running a swarm on a test server with fake insight agents: the items, the workers, the start."""

import uuid
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from shared import names
from shared.swarm import (
    SwarmItem,
    SwarmResult,
    SwarmSettings,
    SwarmState,
)
from tests.support.continued_start import ContinuedStart
from tests.support.fake_fanout import FakeInsights
from workflows import ALL_WORKFLOWS


def items(n: int, bad: set[int] = frozenset()) -> list[SwarmItem]:  # type: ignore[assignment]
    return [
        SwarmItem(
            item_id=f"r{i:05d}",
            text=f"review {i}: " + ("<fail> unreadable" if i in bad else "works well, I like it"),
        )
        for i in range(n)
    ]


async def returning(client: Client) -> Client:
    """An ``open_client`` that hands the CLI the test's client."""
    return client


def workers(client: Client, task_queue: str, agent: FakeInsights) -> list[Worker]:
    return [
        Worker(
            client,
            task_queue=task_queue,
            workflows=[*ALL_WORKFLOWS, ContinuedStart],
            activities=[agent.load_config],
        ),
        # Room for more than the window, so the window (not the worker) is what limits.
        Worker(
            client,
            task_queue=agent.queue,
            activities=[agent.analyze],
            max_concurrent_activities=100,
        ),
    ]


async def start(
    client: Client, task_queue: str, swarm: list[SwarmItem], settings: SwarmSettings
) -> WorkflowHandle[Any, SwarmResult]:
    return await client.start_workflow(
        names.SWARM_WORKFLOW,
        args=[swarm, SwarmState(settings=settings)],
        id=f"swarm-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=SwarmResult,
    )


async def start_later_run(
    client: Client, task_queue: str, items: list[Any], state: SwarmState
) -> WorkflowHandle[Any, SwarmResult]:
    """A swarm's later run with ``state`` (routes, timeouts, chunks done): begun by a stand-in
    first run that continues as new into the swarm at once, as a swarm's own runs continue."""
    return await client.start_workflow(
        "ContinuedStart",
        args=[names.SWARM_WORKFLOW, [items, state]],
        id=f"swarm-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=SwarmResult,
    )
