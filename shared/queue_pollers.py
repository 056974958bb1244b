"""Whether a worker polls a task queue, as the server last saw it (``submit --wait``, the fan-out
commands and a review check the tickets queue; ``status`` a waiting agent call's queue).

With Worker Versioning (shared/worker_versioning.py) the server lists the pollers of every build,
and sends tasks only to the current one and one ramping at more than 0% (or to unversioned
workers while no build is current, or while a ramp is back to them): only those count. A new
build's workers waiting to be made current, or an old build kept for a rollback, take nothing,
and tickets would wait while "a worker polls".
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType, WorkerVersioningMode
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue, TaskQueueVersioningInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse
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
    response = await describe_queue(client, task_queue, activities)
    return any(routed_to(p, response.versioning_info) for p in _fresh(response.pollers))


async def unrouted_hint(
    client: Client, task_queue: str = names.TICKETS_TASK_QUEUE, activities: bool = False
) -> str:
    """What to add to "no worker is polling" when workers do poll the queue but the server
    sends none of them tasks (Worker Versioning: no build of theirs is current): "" otherwise,
    or when the server cannot say. Asked only once no worker was found."""
    try:
        response = await describe_queue(client, task_queue, activities)
    except Exception:  # a courtesy on an error path: the error it adds to stands without it
        return ""
    builds = sorted(
        {p.deployment_options.build_id or "unversioned" for p in _fresh(response.pollers)}
    )
    if not builds:
        return ""
    return (
        f" (workers of build {', '.join(builds)} poll it, but the server sends them nothing: "
        "with Worker Versioning, a build takes tasks once it is made current, "
        "`temporal worker deployment set-current-version`, docs/deploy.md)"
    )


async def describe_queue(
    client: Client, task_queue: str, activities: bool, timeout: timedelta | None = None
) -> DescribeTaskQueueResponse:
    """The server's DescribeTaskQueue of the queue's workflow (or, with ``activities``, activity)
    side: its pollers and where it routes tasks."""
    kind = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
    if activities:
        kind = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
    return await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        ),
        timeout=timeout,
    )


def _fresh(pollers: Iterable[PollerInfo]) -> list[PollerInfo]:
    recent = datetime.now(UTC) - POLLER_FRESHNESS
    return [
        p
        for p in pollers
        if not p.HasField("last_access_time") or p.last_access_time.ToDatetime(tzinfo=UTC) >= recent
    ]


def routed_to(poller: PollerInfo, routing: TaskQueueVersioningInfo) -> bool:
    """Whether the server sends this poller tasks (``routes_to``); a poller that reports no
    versioning (an older SDK) is unversioned."""
    version = poller.deployment_options
    versioned = WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
    if version.worker_versioning_mode != versioned:
        return routes_to("", "", routing)
    return routes_to(version.deployment_name, version.build_id, routing)


def routes_to(deployment: str, build_id: str, routing: TaskQueueVersioningInfo) -> bool:
    """Whether the server sends tasks on a queue to this build of a deployment (``build_id``
    empty: the unversioned workers): the current build, a build ramping at more than 0%, the
    unversioned workers while no build is current or while the ramp is back to them."""
    current = routing.current_deployment_version
    ramping = routing.ramping_deployment_version
    ramps = routing.ramping_version_percentage > 0
    if not build_id:
        return not current.build_id or (ramps and not ramping.build_id)
    return (deployment, build_id) == (current.deployment_name, current.build_id) or (
        ramps and (deployment, build_id) == (ramping.deployment_name, ramping.build_id)
    )
