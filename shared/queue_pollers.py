"""Whether a worker polls a task queue, as the server last saw it (``submit --wait``, the fan-out
commands and a review check the tickets queue; ``status`` a waiting agent call's queue)."""

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from shared import names

# A polling worker renews its long poll at least every minute or so; a poller the server last
# saw longer ago than this has stopped (the server lists pollers for minutes after they go).
POLLER_FRESHNESS = timedelta(minutes=2)


async def workers_polling(
    client: Client, task_queue: str = names.TICKETS_TASK_QUEUE, activities: bool = False
) -> bool:
    """Whether a worker is polling the queue for workflow tasks (for activity tasks with
    ``activities``): one the server saw within POLLER_FRESHNESS (it keeps listing pollers for
    minutes after they stop)."""
    kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
    if activities:
        kind = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        )
    )
    recent = datetime.now(UTC) - POLLER_FRESHNESS
    return any(
        not p.HasField("last_access_time") or p.last_access_time.ToDatetime(tzinfo=UTC) >= recent
        for p in response.pollers
    )
