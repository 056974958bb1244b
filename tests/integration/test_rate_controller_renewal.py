"""A rate controller's runs on the dev server (workflows/rate_controller.py): an idle one renews
its run (continues as new) once it is ``renew_after_seconds`` old (patch "renewed-runs"), so no
run's history outlives the key it was encrypted with, and what it learnt goes with it; a rate it
could not set is set again without waiting for a report (patch "retry-unapplied-rate"), and one
refused again and again is tried less and less often (patch "unapplied-backoff")."""

import contextlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.queue_rate import set_queue_rate
from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import ControllerInput, OutcomeReport, QueueRateChange
from tests.support.temporal import wait_until
from workflows.rate_controller import (
    PATCH_RENEWED_RUNS,
    PATCH_UNAPPLIED_BACKOFF,
    ProviderRateController,
)


def new_controller(kind: str, state: ControllerState, **fields: Any) -> tuple[str, ControllerInput]:
    """A queue of its own for a test's controller, and its start for a provider queue named
    after ``kind`` (the adaptive mode unless ``fields`` say otherwise)."""
    tag = uuid.uuid4().hex[:8]
    start = ControllerInput(
        provider_queue=f"llm-{kind}-{tag}", state=state, **({"mode": "adaptive"} | fields)
    )
    return f"rate-control-{tag}", start


@contextlib.asynccontextmanager
async def controller_running(
    client: Client, queue: str, start: ControllerInput, set_rate: Any
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    """The controller for ``start``'s queue, started on ``queue`` with a worker of its own whose
    set-rate activity is ``set_rate``, until the block ends."""
    async with Worker(
        client, task_queue=queue, workflows=[ProviderRateController], activities=[set_rate]
    ):
        yield await client.start_workflow(
            names.RATE_CONTROLLER_WORKFLOW,
            start,
            id=names.rate_controller_id(start.provider_queue),
            task_queue=queue,
        )


async def test_an_idle_controller_continues_as_new_when_its_run_is_old_enough(
    dev_env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-renewal-{tag}"
    client = dev_env.client
    learnt = ControllerState(rate=7.5, phase="steady", ceiling=8.0, decreases=3)
    start = ControllerInput(
        provider_queue=provider_queue, state=learnt, mode="adaptive", renew_after_seconds=1.0
    )
    async with controller_running(client, queue, start, set_queue_rate) as handle:
        first = handle.result_run_id

        async def renewed() -> bool:
            return (await handle.describe()).run_id != first

        await wait_until(renewed, timeout=30.0, what="the idle controller's run to renew")
        state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
        first_run = client.get_workflow_handle(handle.id, run_id=first)
        closed = await first_run.describe()
        history = await first_run.fetch_history()
        await handle.terminate("test over")

    assert closed.status is WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert state == learnt  # nothing reported: what it learnt crossed unchanged
    patches = {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    }
    assert PATCH_RENEWED_RUNS in patches


class SetRateRefusingFirstFake:
    """A fake of the set-rate activity: refuses the first ``refusals`` calls (a frontend that is
    restarting), then records every rate it sets; ``calls``: every attempt's rate, refused too."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.set: list[float | None] = []
        self.calls: list[float | None] = []

    @activity.defn(name=names.SET_QUEUE_RATE)
    async def set_rate(self, change: QueueRateChange) -> None:
        self.calls.append(change.requests_per_second)
        if self.refusals > 0:
            self.refusals -= 1
            raise ApplicationError("the frontend is restarting")
        self.set.append(change.requests_per_second)


@pytest.mark.usefixtures("replay_check")
async def test_a_rate_the_controller_could_not_set_is_set_again_without_waiting_for_reports(
    dev_env: WorkflowEnvironment,
) -> None:
    """The breaker's cool-down ends, the probe rate fails to reach the queue (its three attempts
    all refused): the queue stays paused, so no call and no report ever come. Once, nothing
    woke the controller again and the provider's queue stayed paused for good."""
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-paused-{tag}"
    client = dev_env.client
    # The dev server's workflow clock is this machine's.
    opened = ControllerState(rate=4.0, phase="open", open_until=time.time() + 1.0, openings=1)
    start = ControllerInput(provider_queue=provider_queue, state=opened, mode="adaptive")
    flaky = SetRateRefusingFirstFake(refusals=3)
    async with controller_running(client, queue, start, flaky.set_rate) as handle:

        async def probing_rate_set() -> bool:
            return any(rate for rate in flaky.set)

        await wait_until(probing_rate_set, timeout=30.0, what="the probe rate set again")
        await handle.terminate("test over")

    assert flaky.refusals == 0 and flaky.set and (flaky.set[0] or 0) > 0


class SetRateRecordingFake(SetRateRefusingFirstFake):
    def __init__(self) -> None:
        super().__init__(refusals=0)


@pytest.mark.usefixtures("replay_check")
async def test_a_rate_the_last_run_could_not_set_is_set_by_the_next_run_at_once(
    dev_env: WorkflowEnvironment,
) -> None:
    """The probe rate fails to reach the queue and the run then continues as new (its day is
    up, or the server suggests it): the new run took the state's rate as applied and waited
    for a report that a paused queue never sends. Its run now carries that the set failed."""
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-carried-{tag}"
    client = dev_env.client
    opened = ControllerState(rate=4.0, phase="open", open_until=time.time() + 0.5, openings=1)
    start = ControllerInput(
        provider_queue=provider_queue, state=opened, mode="adaptive", renew_after_seconds=1.0
    )
    flaky = SetRateRefusingFirstFake(refusals=3)  # the probe's three attempts all refused
    async with controller_running(client, queue, start, flaky.set_rate) as handle:
        first = handle.result_run_id

        async def probing_rate_set_by_a_later_run() -> bool:
            return bool(flaky.set) and (await handle.describe()).run_id != first

        await wait_until(probing_rate_set_by_a_later_run, timeout=30.0, what="the probe rate set")
        await handle.terminate("test over")

    assert flaky.refusals == 0 and flaky.set[0] == 1.0


@pytest.mark.usefixtures("replay_check")
async def test_the_end_of_a_cool_down_follows_the_mode_the_workers_reported(
    dev_env: WorkflowEnvironment,
) -> None:
    """A controller started in the declared-only mode whose workers now run the adaptive limit:
    their failures open its breaker; the tick that ends the cool-down has no report, and it
    fell back to the mode the controller was started with: the queue's rate was removed, and a
    failing provider's queue ran unlimited instead of being probed at 1 request a second."""
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-mode-{tag}"
    client = dev_env.client
    start = ControllerInput(
        provider_queue=provider_queue,
        state=ControllerState(rate=5.0, phase="steady"),
        mode="declared",
        cool_down_seconds=1.0,
    )
    rates = SetRateRecordingFake()
    async with controller_running(client, queue, start, rates.set_rate) as handle:
        await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(failed=4, mode="adaptive"))

        async def two_rates_set() -> bool:
            return len(rates.set) >= 2

        await wait_until(two_rates_set, timeout=30.0, what="the breaker to open and close")
        await handle.terminate("test over")

    assert rates.set[:2] == [0.0, 1.0]  # paused, then probed (not None: no rate at all)


class SetRateRefusedFake:
    """A fake of the set-rate activity on a server that will never set a queue's rate (no
    task-queue configuration API, or no permission): every call refused for good; when each came."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    @activity.defn(name=names.SET_QUEUE_RATE)
    async def set_rate(self, change: QueueRateChange) -> None:
        self.calls.append(time.monotonic())
        raise ApplicationError("UNIMPLEMENTED", type="QueueRateRefused", non_retryable=True)


@pytest.mark.usefixtures("replay_check")
async def test_a_rate_the_server_keeps_refusing_is_tried_less_and_less_often(
    dev_env: WorkflowEnvironment,
) -> None:
    """Refused at every try, the set was tried again at every tick (each second) for good: an
    activity failure a second in the controller's history and the worker's log."""
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-refused-{tag}"
    client = dev_env.client
    opened = ControllerState(rate=4.0, phase="open", open_until=time.time() + 0.5, openings=1)
    # Renewed (continued as new) a few seconds in: the wait kept doubling across the runs, not
    # from a tick again in each.
    start = ControllerInput(
        provider_queue=provider_queue, state=opened, mode="adaptive", renew_after_seconds=2.5
    )
    refused = SetRateRefusedFake()
    async with controller_running(client, queue, start, refused.set_rate) as handle:

        async def four_tries() -> bool:
            return len(refused.calls) >= 4

        await wait_until(four_tries, timeout=60.0, what="four tries to set the probe rate")
        renewed = (await handle.describe()).run_id != handle.result_run_id
        await handle.terminate("test over")
        runs = [e async for e in client.list_workflows(f"WorkflowId = '{handle.id}'")]
        histories = [
            await client.get_workflow_handle(handle.id, run_id=run.run_id).fetch_history()
            for run in runs
        ]

    gaps = [later - earlier for earlier, later in itertools.pairwise(refused.calls[:4])]
    # Tried again after a tick, then after 2 s, then 4 s (each at least that, the machine's
    # scheduling on top).
    assert gaps[1] >= 1.9 and gaps[2] >= 3.9, gaps
    assert renewed  # the tries went on in a later run
    patches = {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for history in histories
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    }
    assert PATCH_UNAPPLIED_BACKOFF in patches


@pytest.mark.usefixtures("replay_check")
async def test_a_learnt_rate_outvoted_into_a_new_run_is_removed_once_the_declared_mode_wins(
    dev_env: WorkflowEnvironment,
) -> None:
    """A rolling deploy from the adaptive mode to the declared one, for a provider that declares
    no limit: the run continues as new within the minute the adaptive workers still outvote the
    declared ones. The next run started from the mode the workers last reported (declared, so no
    rate on the queue, it assumed) and never removed the learnt rate: the queue stayed capped
    at it for good. Now the run says it learnt, and the next declared window removes it."""
    client = dev_env.client
    learnt = ControllerState(rate=5.0, phase="steady", answered_rate=4.0)
    queue, start = new_controller("outvoted", learnt, renew_after_seconds=1.0)
    fake = SetRateRecordingFake()
    async with controller_running(client, queue, start, fake.set_rate) as handle:
        first = handle.result_run_id
        # A declared worker reports while the adaptive ones still win: the learnt rate stays.
        await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=3, mode="declared"))

        async def renewed() -> bool:
            return (await handle.describe()).run_id != first

        await wait_until(renewed, timeout=30.0, what="the controller's run to renew")
        carried = await client.get_workflow_handle(handle.id).fetch_history()
        started = carried.events[0].workflow_execution_started_event_attributes
        [given] = await client.data_converter.decode(
            list(started.input.payloads), [ControllerInput]
        )
        # The minute is over by the new run's clock when it last heard the adaptive mode long
        # ago: what the carried input says (an hour back) stands for that.
        late = given.model_copy(update={"adaptive_at": time.time() - 3_600})
        await handle.terminate("the next run, with the minute over, is started below")
    async with controller_running(client, queue, late, fake.set_rate) as again:
        await again.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=3, mode="declared"))
        await wait_until(lambda: None in fake.set or None, timeout=30.0, what="the rate removed")
        await again.terminate("test over")

    assert given.mode == "declared" and given.learnt and given.adaptive_at is not None
    assert fake.set[-1] is None
