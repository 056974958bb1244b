"""The breaker's probe is judged on the calls it sent, on the dev server (patch
"probe-fresh-failures"): a call begun before the breaker opened that fails while it probes (a
provider's timeout outlasts the cool-down) no longer opens it again.

Before, each such leftover opened the breaker for another cool-down, one at a time, while the
provider answered again: the queue stayed paused and its calls went to the fallback route for as
long as the leftovers took to end."""

import time

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import OutcomeReport
from tests.integration.test_rate_controller_renewal import (
    SetRateRecordingFake,
    controller_running,
    new_controller,
)
from tests.support.temporal import wait_until

pytestmark = pytest.mark.usefixtures("replay_check")

COOL_DOWN = 30.0


def probing() -> ControllerState:
    # The cool-down ended a moment ago (the dev server's workflow clock is this machine's).
    return ControllerState(rate=4.0, phase="probing", open_until=time.time() - 1.0, openings=1)


async def left_probing(handle: WorkflowHandle) -> ControllerState:
    state = ControllerState(rate=4.0)

    async def decided() -> bool:
        nonlocal state
        state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
        return state.phase != "probing"

    await wait_until(decided, timeout=30.0, what="the probe decided")
    return state


async def test_a_call_from_before_the_breaker_opened_failing_during_the_probe_leaves_it_closing(
    dev_env: WorkflowEnvironment,
) -> None:
    queue, start = new_controller("leftover", probing(), cool_down_seconds=COOL_DOWN)
    rates = SetRateRecordingFake()
    async with controller_running(dev_env.client, queue, start, rates.set_rate) as handle:
        # A call begun before the breaker opened (a cool-down and more ago) times out now...
        began = start.state.open_until - COOL_DOWN - 5.0
        leftover = OutcomeReport(failed=1, failed_started=[began])
        await handle.signal(names.RATE_REPORT_SIGNAL, leftover)
        # ... and the probe's own call is answered.
        await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=1))
        state = await left_probing(handle)
        # The phase moves as the set-rate activity is scheduled: wait for it to run.
        await wait_until(lambda: rates.set, timeout=30.0, what="the closing rate set")
        await handle.terminate("test over")

    assert state.phase == "steady" and state.openings == 1, state
    assert rates.set == [4.0]  # the rate from before; never paused again


async def test_a_call_the_probe_sent_failing_opens_the_breaker_again(
    dev_env: WorkflowEnvironment,
) -> None:
    queue, start = new_controller("fresh", probing(), cool_down_seconds=COOL_DOWN)
    rates = SetRateRecordingFake()
    async with controller_running(dev_env.client, queue, start, rates.set_rate) as handle:
        fresh = OutcomeReport(failed=1, failed_started=[time.time()])
        await handle.signal(names.RATE_REPORT_SIGNAL, fresh)
        state = await left_probing(handle)
        await wait_until(lambda: rates.set, timeout=30.0, what="the pause set")
        await handle.terminate("test over")

    assert state.phase == "open" and state.openings == 2, state
    assert rates.set == [0.0]
