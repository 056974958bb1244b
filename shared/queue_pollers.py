"""Whether a worker polls a task queue, as the server last saw it (``submit --wait``, the fan-out
commands and a review check the tickets queue; ``status`` a waiting agent call's queue).

With Worker Versioning (shared/worker_versioning.py) the server lists the pollers of every build,
and sends tasks only to the current and the ramping one (or to unversioned workers while no
build is current): only those count. A new build's workers waiting to be made current, or an
old build kept for a rollback, take nothing, and tickets would wait while "a worker polls".
"""

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType, WorkerVersioningMode
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue, TaskQueueVersioningInfo
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
        (not p.HasField("last_access_time") or p.last_access_time.ToDatetime(tzinfo=UTC) >= recent)
        and routed_to(p, response.versioning_info)
        for p in response.pollers
    )


def routed_to(poller: PollerInfo, routing: TaskQueueVersioningInfo) -> bool:
    """Whether the server sends this poller tasks: it is of the current or the ramping build,
    or unversioned while no build is current."""
    version = poller.deployment_options
    versioned = (
        version.worker_versioning_mode == WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
    )
    current = routing.current_deployment_version
    ramping = routing.ramping_deployment_version
    if not versioned:
        return not current.build_id
    return any(
        version.build_id == v.build_id and version.deployment_name == v.deployment_name
        for v in (current, ramping)
        if v.build_id
    )
