"""A provider that gets requests_per_minute after its queue's rate controller set a rate: the
worker removes that rate when it starts (an API rate overrides every worker's, so the configured
limit would otherwise never apply), and leaves alone a rate an operator set. On the dev server."""

import uuid

import pytest
from temporalio.api.taskqueue.v1 import RateLimit
from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.queue_rate import (
    ACTIVITY_QUEUE,
    api_rate,
    ensure_controller,
    release_controller_rate,
    set_api_rate,
)
from activities.rate_reports import OutcomeReporter
from policy.adaptive_rate import CEILING_SHARE, ControllerState, Window, step
from shared import names
from shared.provider_config import WorkerSettings, default_providers
from shared.rate_control import ControllerInput
from task_queue_workers import release_controller_rates
from tests.support.temporal import wait_until


async def rate_becomes(client: Client, queue: str, expected: float | None) -> None:
    """The queue's API rate reads ``expected`` within a few seconds: DescribeTaskQueue shows an
    update once the server has spread it over its task-queue data, not always at once (seen
    once: 0.0 read right after the rate was removed; the server's own tests wait for it too)."""

    async def reads() -> bool:
        return await api_rate(client, queue) == expected

    await wait_until(reads, timeout=10.0, what=f"{queue}'s API rate to read {expected}")


async def operator_sets(client: Client, queue: str, rate: float) -> None:
    """What `temporal task-queue config set` does: the same API, another identity."""
    update = UpdateTaskQueueConfigRequest.RateLimitUpdate(reason="operator")
    update.rate_limit.CopyFrom(RateLimit(requests_per_second=rate))
    await client.workflow_service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(
            namespace=client.namespace,
            identity="operator@example",
            task_queue=queue,
            task_queue_type=ACTIVITY_QUEUE,
            update_queue_rate_limit=update,
        )
    )


async def test_a_configured_provider_loses_its_controller_rate_and_keeps_an_operators(
    dev_env: WorkflowEnvironment,
) -> None:
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    configured, operated, adaptive, off = (
        f"{kind}{tag}" for kind in ("conf", "oper", "adap", "off")
    )
    openai = default_providers()["openai"]
    settings = WorkerSettings(
        providers={
            configured: openai.model_copy(update={"requests_per_minute": 120}),
            operated: openai.model_copy(update={"requests_per_minute": 120}),
            adaptive: openai.model_copy(update={"adaptive_limit": True}),
            # Neither the adaptive nor the declared limit: no controller sets its rate any more.
            off: openai.model_copy(update={"declared_limit": False}),
        }
    )
    queues = [names.llm_task_queue(p) for p in (configured, operated, adaptive, off)]
    await set_api_rate(client, queues[0], 3.0, "adaptive limit (AIMD on the provider's 429s)")
    await operator_sets(client, queues[1], 5.0)
    await set_api_rate(client, queues[2], 7.0, "adaptive limit (AIMD on the provider's 429s)")
    await set_api_rate(client, queues[3], 9.0, "the limit the provider declares")

    released = await release_controller_rates(client, [names.TICKETS_TASK_QUEUE, *queues], settings)

    await rate_becomes(client, queues[0], None)  # the configured 2/s applies again
    assert await api_rate(client, queues[1]) == 5.0  # an operator's decision stays
    assert await api_rate(client, queues[2]) == 7.0  # still adaptive: its controller's rate
    await rate_becomes(client, queues[3], None)  # no limit, as configured
    assert len(released) == 2
    assert (
        queues[0] in released[0] and "3/s" in released[0] and "requests_per_minute" in released[0]
    )
    assert queues[3] in released[1] and "no controller" in released[1]
    # Once removed there is nothing left to remove.
    assert await release_controller_rates(client, queues, settings) == []


async def test_a_released_provider_s_controller_is_stopped_so_it_sets_no_rate_again(
    dev_env: WorkflowEnvironment,
) -> None:
    # Its breaker open when requests_per_minute was configured: at the end of the cool-down it
    # would probe at 1/s through the API, over the configured rate, for good.
    client = dev_env.client
    provider = f"conf{uuid.uuid4().hex[:6]}"
    queue = names.llm_task_queue(provider)
    await set_api_rate(client, queue, 0.0, "circuit open: the provider is failing most calls")
    await start_controller(client, queue)
    settings = WorkerSettings(
        providers={
            provider: default_providers()["openai"].model_copy(update={"requests_per_minute": 60})
        }
    )

    released = await release_controller_rates(client, [queue], settings)

    assert len(released) == 1 and "0/s" in released[0]
    await rate_becomes(client, queue, None)
    described = await client.get_workflow_handle(names.rate_controller_id(queue)).describe()
    assert described.status is WorkflowExecutionStatus.TERMINATED


async def test_a_pause_left_by_a_breaker_whose_controller_is_gone_is_lifted_by_the_next_one(
    dev_env: WorkflowEnvironment,
) -> None:
    # A paused queue dispatches no call, so no report would ever start a controller again: the
    # next worker's start must not take the pause for the controller's starting rate.
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    adaptive, declared, running, operated = (
        names.llm_task_queue(f"{kind}{tag}") for kind in ("adap", "decl", "runs", "oper")
    )
    for queue in (adaptive, declared, running):
        await set_api_rate(client, queue, 0.0, "circuit open: the provider is failing most calls")
    await operator_sets(client, operated, 0.0)
    await start_controller(client, running)  # its breaker is open now: the pause is its own

    try:
        await ensure_controller(client, adaptive, CONTROLLER_QUEUE, 2.0, 5.0, mode="adaptive")
        await ensure_controller(client, declared, CONTROLLER_QUEUE, 2.0, 5.0, mode="declared")
        await ensure_controller(client, running, CONTROLLER_QUEUE, 2.0, 5.0, mode="adaptive")
        await ensure_controller(client, operated, CONTROLLER_QUEUE, 2.0, 5.0, mode="adaptive")

        await rate_becomes(client, adaptive, 2.0)  # the starting rate, applied
        assert await api_rate(client, declared) is None  # nothing declared yet: no rate
        assert await api_rate(client, running) == 0.0  # a live breaker's pause stays
        assert await api_rate(client, operated) == 0.0  # and so does an operator's
    finally:
        for queue in (adaptive, declared, running, operated):
            handle = client.get_workflow_handle(names.rate_controller_id(queue))
            await handle.terminate()


async def test_a_rate_a_gone_controller_learnt_is_removed_when_the_provider_turns_declared_only(
    dev_env: WorkflowEnvironment,
) -> None:
    # An adaptive controller set 8/s and was terminated; the provider was then configured to
    # take only the limits it declares. The new controller sets nothing until one is declared,
    # and a provider that never declares one (a gateway) kept the old 8/s for good.
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    gone, live = (names.llm_task_queue(f"{kind}{tag}") for kind in ("gone", "live"))
    for queue in (gone, live):
        await set_api_rate(client, queue, 8.0, "adaptive limit (AIMD on the provider's 429s)")
    await start_controller(client, live)  # a controller still runs there: its rate stays

    try:
        await ensure_controller(client, gone, CONTROLLER_QUEUE, 2.0, 5.0, mode="declared")
        await ensure_controller(client, live, CONTROLLER_QUEUE, 2.0, 5.0, mode="declared")

        assert await api_rate(client, gone) is None
        assert await api_rate(client, live) == 8.0
    finally:
        for queue in (gone, live):
            handle = client.get_workflow_handle(names.rate_controller_id(queue))
            await handle.terminate()


async def test_a_new_controller_starts_from_a_learnt_rate_below_the_starting_one(
    dev_env: WorkflowEnvironment,
) -> None:
    # A controller learnt 0.5/s (a slow provider) and was terminated. Its successor took the
    # starting 2/s for the rate in force while the queue kept 0.5/s: its decisions were made
    # for a rate the server did not dispatch at.
    client = dev_env.client
    tag = uuid.uuid4().hex[:6]
    slow, fast = (names.llm_task_queue(f"{kind}{tag}") for kind in ("slow", "fast"))
    await set_api_rate(client, slow, 0.5, "adaptive limit (AIMD on the provider's 429s)")
    await set_api_rate(client, fast, 8.0, "adaptive limit (AIMD on the provider's 429s)")

    try:
        await ensure_controller(client, slow, CONTROLLER_QUEUE, 2.0, 5.0, mode="adaptive")
        await ensure_controller(client, fast, CONTROLLER_QUEUE, 2.0, 5.0, mode="adaptive")
        started = {q: await controller_input(client, q) for q in (slow, fast)}

        assert await api_rate(client, slow) == 0.5
        assert (started[slow].state.rate, started[slow].state.phase) == (0.5, "slow_start")
        assert (started[fast].state.rate, started[fast].state.phase) == (8.0, "steady")
        # The learnt rate is the top of a climb: held, then probed gently, not grown by half
        # each tick as a state without a ceiling is (8, 12, 18/s past the limit it learnt).
        resumed = started[fast].state
        assert resumed.ceiling == pytest.approx(8.0 / CEILING_SHARE)
        answered = Window(seconds=2.0, answered=16)
        assert step(resumed, answered, now=0.0, cool_down=5.0).rate <= 8.0 * 1.05
    finally:
        for queue in (slow, fast):
            await client.get_workflow_handle(names.rate_controller_id(queue)).terminate()


async def controller_input(client: Client, queue: str) -> ControllerInput:
    """What the queue's controller was started with (its history's first event)."""
    handle = client.get_workflow_handle(names.rate_controller_id(queue))
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [start] = await client.data_converter.decode(payloads, [ControllerInput])
        return start  # type: ignore[no-any-return]
    raise AssertionError(f"no history for {queue}'s controller")


CONTROLLER_QUEUE = "rate-control-release-test"  # no worker: the controllers only need to exist


async def start_controller(client: Client, queue: str) -> None:
    await client.start_workflow(
        names.RATE_CONTROLLER_WORKFLOW,
        ControllerInput(
            provider_queue=queue,
            state=ControllerState(rate=1.0, phase="open", open_until=0.0),
            cool_down_seconds=30.0,
        ),
        id=names.rate_controller_id(queue),
        task_queue=CONTROLLER_QUEUE,
    )


async def test_a_worker_older_than_the_release_does_not_start_the_controller_again(
    dev_env: WorkflowEnvironment,
) -> None:
    # A rolling deploy off the adaptive limit: a new worker released the queue at its start; an
    # old worker, still reporting, found the controller gone and started it again with its
    # starting rate, which then overrode the configured rate until a new worker restarted (a
    # review reproduced it, 2026-12-07). A worker started after the release still starts it.
    client = dev_env.client
    queue = names.llm_task_queue(f"roll{uuid.uuid4().hex[:6]}")

    def reporter() -> OutcomeReporter:
        made = OutcomeReporter(client, queue, CONTROLLER_QUEUE, 2.0, 30.0)
        made.record(None)  # a call answered: there is a report to send
        return made

    older = reporter()
    await start_controller(client, queue)
    await release_controller_rate(client, queue, "requests_per_minute is configured")
    await older.flush()
    stopped = await client.get_workflow_handle(names.rate_controller_id(queue)).describe()
    rate_after_older = await api_rate(client, queue)
    await reporter().flush()  # a worker started after the release (the deploy rolled back)
    restarted = await client.get_workflow_handle(names.rate_controller_id(queue)).describe()
    await client.get_workflow_handle(names.rate_controller_id(queue)).terminate("test over")

    assert stopped.status is WorkflowExecutionStatus.TERMINATED
    assert rate_after_older is None
    assert restarted.status is WorkflowExecutionStatus.RUNNING
