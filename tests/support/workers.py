"""Workers for tests: the real ones from worker.py, or a workflow worker with fake activities."""

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

import task_queue_workers
from activities.delivery.activity import DeliveryActivities
from activities.providers.registry import build_providers
from activities.ticket_activities import restart_ticket, restart_tickets
from shared import names
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings
from shared.stores.sqlite_ledger import SqliteLedger
from shared.tickets import Ticket
from tests.support.tickets import make_ticket, start_ticket
from workflows import ALL_WORKFLOWS


@contextlib.asynccontextmanager
async def running(workers: Sequence[Worker]) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(w)
        yield


def built_workers(
    client: Client, data_dir: Path, prefix: str, **options: Any
) -> tuple[str, list[Worker]]:
    """The worker process's workers, built and not started, with the offline agents on a tickets
    queue of their own (one worker per queue and client), for tests that read their
    configuration. ``options`` go to task_queue_workers.build_workers."""
    config = PipelineConfig()
    queue = f"{prefix}-{uuid.uuid4().hex[:6]}"
    workers = task_queue_workers.build_workers(
        client,
        config,
        build_providers(config, WorkerSettings(), {}),
        [queue, names.delivery_task_queue(queue)],
        delivery=DeliveryActivities(SqliteLedger(data_dir / "outbox.sqlite3")),
        tickets_queue=queue,
        **options,
    )
    return queue, workers


@contextlib.asynccontextmanager
async def real_pipeline(
    client: Client,
    task_queue: str,
    data_dir: Path,
    config: PipelineConfig | None = None,
    worker_settings: WorkerSettings | None = None,
    env: dict[str, str] | None = None,
    max_cached_workflows: int = 1000,
    delivery: DeliveryActivities | None = None,
    sandboxed: bool = True,
    agent_queues: bool = True,
) -> AsyncIterator[None]:
    """The worker process's own workers: the configured providers (offline by default), the
    knowledge base and delivery (by default to the SQLite ledger under ``data_dir``, as the
    embedded default does). ``env`` supplies provider keys; ``sandboxed=False`` is
    TICKETS_WORKFLOW_SANDBOX=off; ``agent_queues=False`` leaves the providers' queues to another
    worker (``python -m worker --queues llm-...``)."""
    config = config or PipelineConfig()
    worker_settings = worker_settings or WorkerSettings()
    providers = build_providers(config, worker_settings, env or {})
    delivery = delivery or DeliveryActivities(SqliteLedger(data_dir / "outbox.sqlite3"))
    shared_queues = {names.TICKETS_TASK_QUEUE, names.DELIVERY_TASK_QUEUE}
    llm_queues = [q for q in task_queue_workers.needed_queues(config) if q not in shared_queues]
    if not agent_queues:
        llm_queues = []
    workers = task_queue_workers.build_workers(
        client,
        config,
        providers,
        [task_queue, names.delivery_task_queue(task_queue), *llm_queues],
        delivery=delivery,
        worker_settings=worker_settings,
        tickets_queue=task_queue,
        max_cached_workflows=max_cached_workflows,
        sandboxed=sandboxed,
    )
    try:
        # Opened (made, migrated) before the workers poll, as the worker process's stores are
        # (shared/stores/factory.py open_stores): `erase` and `redrive` refuse a data directory
        # without one, and a test that ran before any delivery found none.
        await delivery.ledger.count()
        async with running(workers):
            yield
    finally:
        for provider in providers.values():
            await provider.aclose()


@contextlib.asynccontextmanager
async def fake_pipeline(
    client: Client,
    task_queue: str,
    activities: Sequence[object],
    llm_queue: str = "llm-offline",
    **workflow_worker: Any,
) -> AsyncIterator[None]:
    """The real workflow with fake activities registered under the real names. Activities whose
    names are agent activities go on the LLM queue, delivery on the delivery queue, the rest next
    to the workflow. ``workflow_worker``: more options for the workflows' worker (a test's
    interceptors, its workflow runner); ``workflows`` there are registered beside the real ones,
    in place of a real one of the same name (a test's stand-in)."""
    agent_names = {
        names.CLASSIFY_TICKET,
        names.TRIAGE_TICKET,
        names.DRAFT_RESOLUTION,
        names.VALIDATE_RESOLUTION,
        # A complex ticket's orchestrator run, when a test gives it fake agents.
        names.PLAN_TASK,
        names.RUN_SUBTASK,
        names.SYNTHESIZE_RESULTS,
    }
    agents = [a for a in activities if _activity_name(a) in agent_names]
    delivery = [a for a in activities if _activity_name(a) == names.DELIVER_RESPONSE]
    others = [a for a in activities if a not in agents and a not in delivery]
    given = {_activity_name(a) for a in others}
    # The real ones (they only talk to the server): a batch's refused starts call them.
    others += [a for a in (restart_ticket, restart_tickets) if _activity_name(a) not in given]
    extra = list(workflow_worker.pop("workflows", ()))
    replaced = {_workflow_name(w) for w in extra}
    real = [w for w in ALL_WORKFLOWS if _workflow_name(w) not in replaced]
    workers = [
        Worker(
            client,
            task_queue=task_queue,
            workflows=[*real, *extra],
            activities=others,
            **workflow_worker,
        )
    ]
    if agents:
        workers.append(Worker(client, task_queue=llm_queue, activities=agents))
    if delivery:
        queue = names.delivery_task_queue(task_queue)
        workers.append(Worker(client, task_queue=queue, activities=delivery))
    async with running(workers):
        yield


def _activity_name(fn: object) -> str:
    defn = getattr(fn, "__temporal_activity_definition")
    return defn.name


def _workflow_name(cls: object) -> str | None:
    defn = getattr(cls, "__temporal_workflow_definition")
    return defn.name


@contextlib.asynccontextmanager
async def ticket_on_fakes(
    client: Client,
    task_queue: str,
    agents: Any,
    services: Any,
    ticket: Ticket | None = None,
    orchestration: Any = None,
    memo: dict[str, Any] | None = None,
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """The workflow on fake agents and services (and a fake orchestrator's agents, when given),
    with one ticket started on it (with ``memo``, as a starter's restart sets it)."""
    activities = agents.activities() + services.activities()
    if orchestration is not None:
        activities += orchestration.agent_activities()
    async with fake_pipeline(client, task_queue, activities, llm_queue=services.agent_queue):
        yield await start_ticket(client, task_queue, ticket or make_ticket(), memo=memo)
