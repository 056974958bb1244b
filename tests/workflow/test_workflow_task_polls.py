"""How the worker polls: the tickets worker splits its workflow-task polls between the shared
queue and its sticky queue (task_queue_workers.WORKFLOW_TASK_POLLERS; docs/performance.md,
"Fairness between customers"), and a provider queue's worker keeps a fixed number of activity
polls where its calls are paced (provider_queue_pollers; docs/rate-control.md, "Several
workers"). The effects, another customer's ticket behind a burst and two workers' use of a
provider's limit, are `python -m bench fairness`'s and `llm_rate_limit --workers 2`'s to
measure; this pins the settings they chose."""

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorAutoscaling, PollerBehaviorSimpleMaximum

import task_queue_workers
from activities.delivery.activity import DeliveryActivities
from activities.providers.registry import build_providers
from shared import names
from shared.pipeline_config import PipelineConfig
from shared.provider_config import ProviderConfig, WorkerSettings
from shared.stores.sqlite_ledger import SqliteLedger
from task_queue_workers import PACED_QUEUE_POLLS, provider_queue_pollers
from tests.support.workers import built_workers, running


def shared_and_sticky(behavior: object, shared_share: float) -> tuple[int, int]:
    """The polls the SDK's core gives each queue for a fixed maximum and a shared-queue share
    (its own arithmetic: at least one each)."""
    assert isinstance(behavior, PollerBehaviorSimpleMaximum), behavior
    shared = max(1, int(behavior.maximum * shared_share))
    return shared, max(1, behavior.maximum - shared)


async def test_the_tickets_worker_polls_its_sticky_queue_more_than_the_shared_one(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue, workers = built_workers(ts_env.client, tmp_path, "polls")
    # Started and stopped: the SDK's core accepts the setting (and the namespace lookup it makes
    # once a worker exists ends while the server is still up).
    async with running(workers):
        pass
    [tickets] = [w.config(active_config=True) for w in workers if w.task_queue == queue]

    # A fixed maximum (with the autoscaler, the ratio is ignored and each queue autoscales).
    behavior = tickets["workflow_task_poller_behavior"]
    shared, sticky = shared_and_sticky(behavior, tickets["nonsticky_to_sticky_poll_ratio"])
    assert (shared, sticky) == (1, 4)
    # Every poll can be answered with a slot to run its task.
    assert shared + sticky <= tickets["max_concurrent_workflow_tasks"]


def provider(**settings: object) -> ProviderConfig:
    return ProviderConfig(
        kind="openai", api_key_env=None, small_model="m", large_model="m", **settings
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (None, None),  # offline agents: no rate, autoscaled
        (provider(declared_limit=False), None),  # no rate from anywhere
        (provider(), PACED_QUEUE_POLLS),  # the declared limit (the default)
        (provider(adaptive_limit=True), PACED_QUEUE_POLLS),
        (provider(requests_per_minute=600), PACED_QUEUE_POLLS),
        (provider(requests_per_minute=600, max_concurrent=2), 2),  # never more than its slots
    ],
)
def test_a_paced_provider_queue_polls_a_fixed_number_of_activity_tasks(
    config: ProviderConfig | None, expected: int | None
) -> None:
    behavior = provider_queue_pollers(config)
    if expected is None:
        assert isinstance(behavior, PollerBehaviorAutoscaling), behavior
    else:
        assert isinstance(behavior, PollerBehaviorSimpleMaximum), behavior
        assert behavior.maximum == expected


async def test_the_worker_of_a_paced_provider_queue_takes_its_fixed_pollers(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # Autoscaled polls grow on the worker whose polls bring tasks, and the server's matching then
    # hands it more of the queue's rate than the share it sends (peers.py): the other waits idle.
    # Queues of this test's own: the SDK refuses a second worker on a queue (llm-offline, say)
    # while a first, even built and never run, is registered with the client.
    run = uuid.uuid4().hex[:6]
    paced, unpaced = f"paced-{run}", f"unpaced-{run}"
    settings = WorkerSettings(
        providers={
            paced: provider(requests_per_minute=600),
            unpaced: provider(declared_limit=False),
        }
    )
    config = PipelineConfig()
    queue = f"polls-{run}"
    workers = task_queue_workers.build_workers(
        ts_env.client,
        config,
        build_providers(config, settings, {}, polled={paced, unpaced}),
        [queue, names.llm_task_queue(paced), names.llm_task_queue(unpaced)],
        worker_settings=settings,
        delivery=DeliveryActivities(SqliteLedger(tmp_path / "outbox.sqlite3")),
        tickets_queue=queue,
    )
    # Started and stopped: the SDK's core accepts the settings, and lets the queues go.
    async with running(workers):
        pass
    polls = {
        w.task_queue: w.config(active_config=True)["activity_task_poller_behavior"] for w in workers
    }

    assert polls[names.llm_task_queue(paced)] == PollerBehaviorSimpleMaximum(PACED_QUEUE_POLLS)
    assert isinstance(polls[names.llm_task_queue(unpaced)], PollerBehaviorAutoscaling)
