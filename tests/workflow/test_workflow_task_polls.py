"""How the tickets worker splits its workflow-task polls between the shared queue and its sticky
queue (task_queue_workers.WORKFLOW_TASK_POLLERS; docs/performance.md, "Fairness between
customers"). The effect, another customer's ticket behind a burst, is `python -m bench
fairness`'s to measure; this pins the setting the measurement chose."""

from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import PollerBehaviorSimpleMaximum

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
