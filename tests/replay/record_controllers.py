"""Recording the rate controller's histories (``python -m tests.replay.record_histories
controller``, ``declared-controller`` and ``first-climb-controller``): a ProviderRateController
fed scripted reports on a dev server, saved as
``providerratecontroller-<version>-<scenario>.json``."""

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared import names
from tests.replay.committed import FOLDER, read_ids, write_ids
from tests.support.temporal import CONVERTER, binary

# v1: before the "steady-probes" rules; v2: before "declared-limits"; v3: before
# "capped-probe-steps"
CONTROLLER_VERSION = "v12"
# v12: the breaker's memory fades by the time since the last decision, and a 429's cut goes to
# what its window answered when the measure is far below it (patch quiet-spells); the adaptive
# mode wins for a minute after its last report (patch mixed-modes-learn); both asked once per
# run; the scenario's rates are v11's (it has no quiet spell and one mode).
# v11: stray 429s on an idle queue no longer compound (patch stray-cuts-bounded), failures end
# a tick's window at once only when they could open the breaker (failures-wait-for-the-tick),
# and a failed set leaves the rate unknown and is retried while the breaker is open
# (failed-sets-retried); all three asked once per run.
# v10: a window without a 429 shorter than most of a tick (decided at once on failures) holds
# the rate (patch short-windows-hold); the scenario's rates are v9's (its failures come with
# 429s or in whole ticks).
# v9: a probe window where half the ended calls failed opens the breaker again (patch
# probe-failure-share), and an allowed rate back up after a dip keeps a 429's cut (patch
# raise-keeps-cuts); the scenario's rates are v8's (it has neither case).
# v8: the first climb after slow start's cut goes at the fast step to slow start's last rate
# without a 429 (patch fast-first-climb; its scenario is "first-climb").
# v7: probes above the ceiling climb at half the step (patch gentle-probes; v6 at 1% then 2% of
# the ceiling a tick).
# v6: a stray 429 while the queue was nearly idle cuts by the decrease share only (patch
# demand-aware-cuts; v5 cut to the queue's demand).
# v5: runs renew themselves (patch renewed-runs: a timer at the start; the scenario is shorter
# than a day, so the recorded run does not reach it).
# v4 climbs longer (45 reports, ~16 ticks): a probe runs past the step where v4 stops growing
# (the set-rate activities carry other rates; their commands are the same).
CLIMB_REPORTS, CLIMB_INTERVAL = 45, 0.35


async def report_until(
    handle: WorkflowHandle[Any, Any],
    report: Any,
    done: Callable[[Any], bool],
    what: str,
) -> None:
    """Send ``report`` to a rate controller every 0.3 s until its state is ``done``."""
    from policy.adaptive_rate import ControllerState

    for _ in range(100):
        await handle.signal(names.RATE_REPORT_SIGNAL, report)
        await asyncio.sleep(0.3)
        state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
        if done(state):
            return
    raise RuntimeError(f"the controller never reached {what}")


def controller_worker(client: Client, queue: str) -> Worker:
    """A worker for rate controllers and their set-rate activity, as the rate-control queue's."""
    from activities.queue_rate import set_queue_rate
    from workflows.rate_controller import ProviderRateController

    return Worker(
        client, task_queue=queue, workflows=[ProviderRateController], activities=[set_queue_rate]
    )


def save_controller_history(history: WorkflowHistory, scenario: str, workflow_id: str) -> None:
    path = FOLDER / f"providerratecontroller-{CONTROLLER_VERSION}-{scenario}.json"
    path.write_text(history.to_json())
    ids = read_ids()
    ids[path.stem] = workflow_id
    write_ids(ids)
    print(f"wrote {path} ({len(history.events)} events)")


async def record_controller() -> None:
    """A provider queue's rate controller through every phase: slow start, a 429 and its
    decrease, the breaker opening on failures, the probe after the cool-down, closing again,
    then the climb back after a cut: to the ceiling, and above it probing for a raised limit
    (where the rules' versions differ: v2 holds at the ceiling first); then (v3) the provider
    declaring its limit in its headers, and the rate set to its share and held there."""
    from activities.queue_rate import ensure_controller
    from policy.adaptive_rate import ControllerState
    from shared.rate_control import OutcomeReport

    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER, dev_server_existing_path=binary("temporal")
    )
    queue, provider_queue = "record-rate-control", "llm-record"
    workflow_id = names.rate_controller_id(provider_queue)
    handle = env.client.get_workflow_handle(workflow_id)

    async def report(until: str, **counts: Any) -> None:
        await report_until(handle, OutcomeReport(**counts), lambda s: s.phase == until, until)

    try:
        async with controller_worker(env.client, queue):
            await ensure_controller(env.client, provider_queue, queue, 1.0, 1.0)
            await report("steady", answered=3, rate_limited=2, retry_after=1.0)
            await report("open", answered=1, failed=6)
            await report("steady", answered=2)
            await report("steady", answered=4, rate_limited=1)  # a cut, the ceiling set
            for _ in range(CLIMB_REPORTS):  # a queue that uses all it is given, for ~16 ticks
                await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=5))
                await asyncio.sleep(CLIMB_INTERVAL)
            for _ in range(CLIMB_REPORTS):  # the provider allows 4/s; the queue wants more
                await handle.signal(
                    names.RATE_REPORT_SIGNAL, OutcomeReport(answered=5, allowed_rate=4.0)
                )
                await asyncio.sleep(CLIMB_INTERVAL)
            state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
            if state.allowed != 4.0:
                raise RuntimeError(f"the controller never took the declared limit: {state}")
            for _ in range(6):  # demand falls to about a call a second
                await handle.signal(
                    names.RATE_REPORT_SIGNAL, OutcomeReport(answered=1, allowed_rate=4.0)
                )
                await asyncio.sleep(1.0)
            stray = OutcomeReport(rate_limited=1, allowed_rate=4.0)  # a stray 429 (v6: gentle)
            await report_until(handle, stray, lambda s: s.decreases > state.decreases, "a cut")
            history = await handle.fetch_history()
            await handle.terminate("recorded")
    finally:
        await env.shutdown()
    save_controller_history(history, "controller", workflow_id)


async def record_declared_controller() -> None:
    """A controller that only takes the provider's declared limit (adaptive_limit off): reports
    before any declaration (nothing set), the first declared limit (set), 429s and failures
    (ignored), a lower limit (set at once)."""
    from activities.queue_rate import ensure_controller
    from shared.rate_control import OutcomeReport

    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER, dev_server_existing_path=binary("temporal")
    )
    queue, provider_queue = "record-rate-control", "llm-record-declared"
    workflow_id = names.rate_controller_id(provider_queue)
    handle = env.client.get_workflow_handle(workflow_id)

    async def declaring(allowed: float | None, **counts: Any) -> None:
        await report_until(
            handle,
            OutcomeReport(mode="declared", allowed_rate=allowed, **counts),
            lambda s: s.allowed == allowed and s.answered_rate > 0,
            f"allowed rate {allowed}",
        )

    try:
        async with controller_worker(env.client, queue):
            await ensure_controller(env.client, provider_queue, queue, 1.0, 1.0, mode="declared")
            await declaring(None, answered=3)
            await declaring(4.0, answered=3)
            await declaring(4.0, answered=1, rate_limited=3, failed=4)
            await declaring(3.0, answered=3)
            history = await handle.fetch_history()
            await handle.terminate("recorded")
    finally:
        await env.shutdown()
    save_controller_history(history, "declared-only", workflow_id)


async def record_first_climb_controller() -> None:
    """Slow start with a queue answering four fifths of its rate (its measured limit lagging
    the ramp), the 429 that ends it, then the queue using all it is given for a few ticks:
    since fast-first-climb the rate climbs back at once, by the fast step, to the last rate slow
    start reached without a 429 (before, it held at the measured limit for the plateau)."""
    from activities.queue_rate import ensure_controller
    from policy.adaptive_rate import ControllerState
    from shared.rate_control import OutcomeReport

    env = await WorkflowEnvironment.start_local(
        data_converter=CONVERTER, dev_server_existing_path=binary("temporal")
    )
    queue, provider_queue = "record-rate-control", "llm-record-first-climb"
    workflow_id = names.rate_controller_id(provider_queue)
    handle = env.client.get_workflow_handle(workflow_id)

    async def state() -> ControllerState:
        return await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)

    async def using(
        share: float, done: Callable[[ControllerState], bool], what: str, **more: Any
    ) -> None:
        """Reports every 0.3 s of calls answered at ``share`` of the queue's rate until
        ``done``."""
        for _ in range(100):
            now = await state()
            if done(now):
                return
            answered = max(1, round(now.queue_rate() * 0.3 * share))
            await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=answered, **more))
            await asyncio.sleep(0.3)
        raise RuntimeError(f"the controller never reached {what}")

    try:
        async with controller_worker(env.client, queue):
            await ensure_controller(env.client, provider_queue, queue, 1.0, 1.0)
            await using(0.8, lambda s: s.rate >= 6.0, "slow start past 6/s")
            await using(0.8, lambda s: s.decreases >= 1, "the cut", rate_limited=2, retry_after=1.0)
            cut = await state()
            if cut.first_climb_to is None or cut.first_climb_to <= cut.rate:
                raise RuntimeError(f"the cut left no first climb to record: {cut}")
            await using(1.0, lambda s: s.probe_ticks > 2, "the top of the first climb")
            history = await handle.fetch_history()
            await handle.terminate("recorded")
    finally:
        await env.shutdown()
    save_controller_history(history, "first-climb", workflow_id)
