"""How the worker polls: the tickets worker splits its workflow-task polls between the shared
queue and its sticky queue (task_queue_workers.WORKFLOW_TASK_POLLERS; docs/performance.md,
"Fairness between customers"), and a provider queue's worker keeps a fixed number of activity
polls (PROVIDER_QUEUE_POLLERS; docs/rate-control.md, "Several workers"). The effects, another
customer's ticket behind a burst and two workers' use of a provider's limit, are `python -m bench
fairness`'s and `llm_rate_limit --workers 2`'s to measure; this pins the settings they chose."""

from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum

import task_queue_workers
from shared import names
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


async def test_a_provider_queue_worker_polls_a_fixed_number_of_activity_tasks(
    ts_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # Autoscaled polls grow on the worker whose polls bring tasks, and the server's matching then
    # hands it more of the queue's rate than the share it sends (peers.py): the other waits idle.
    provider_queue = names.llm_task_queue("offline")
    _, workers = built_workers(ts_env.client, tmp_path, "polls", provider_queue)
    [provider] = [w.config(active_config=True) for w in workers if w.task_queue == provider_queue]

    behavior = provider["activity_task_poller_behavior"]
    assert isinstance(behavior, PollerBehaviorSimpleMaximum), behavior
    assert behavior.maximum == task_queue_workers.PROVIDER_QUEUE_POLLERS.maximum
    # Every poll can be answered with a slot to run its task.
    assert behavior.maximum <= provider["max_concurrent_activities"]
