"""A trickle of provider failures below the breaker's share, on the dev server (patch
"failures-wait-for-the-tick"): the controller acts on failures at once only when they could open
the breaker, so its windows stay a tick long and a queue using its rate is raised.

Found by a review (2026-12-07): every failure ended the window at once; with one in each
worker's half-second report no window reached the length a raise (or the measurement of what
the provider answers) needs, so a raised limit was never found."""

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import OutcomeReport
from tests.integration.test_rate_controller_renewal import (
    SetRateRecordingFake,
    controller_running,
    new_controller,
)

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_a_trickle_of_failures_below_the_breaker_s_share_lets_the_rate_rise(
    dev_env: WorkflowEnvironment,
) -> None:
    queue, start = new_controller(
        "trickle", ControllerState(rate=4.0, phase="steady", ceiling=10.0, answered_rate=4.0)
    )
    # A worker's report every 0.3 s: three answers (10/s, more than the queue's 4/s is used
    # for) and one failure (a 5xx: a quarter of the calls, under the breaker's half).
    trickle = OutcomeReport(answered=3, failed=1)
    rates = SetRateRecordingFake()
    async with controller_running(dev_env.client, queue, start, rates.set_rate) as handle:
        state = start.state
        for _ in range(60):
            await handle.signal(names.RATE_REPORT_SIGNAL, trickle)
            await asyncio.sleep(0.3)
            state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
            if state.rate >= 5.0:
                break
        await handle.terminate("test over")

    assert state.phase == "steady" and state.rate >= 5.0, state
    assert rates.set and max(r or 0.0 for r in rates.set) >= 5.0
