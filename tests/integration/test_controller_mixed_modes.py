"""Workers of one provider queue in both modes (a rolling deploy between `declared_limit` and
`adaptive_limit`): a window of declared-only reports took the queue's rate away (none declared
yet: unlimited dispatch to the provider) until the next adaptive window set it back. The
adaptive mode now wins for a minute after it last reported (patch "mixed-modes-learn"), as it
wins within one window's reports. The real dev server, a controller and a fake set-rate
activity."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import ControllerInput, OutcomeReport
from tests.integration.test_rate_controller_renewal import SetRateRecordingFake, controller_running
from tests.support.temporal import wait_until


@pytest.mark.usefixtures("replay_check")
async def test_a_declared_only_window_beside_adaptive_workers_keeps_the_queues_rate(
    dev_env: WorkflowEnvironment,
) -> None:
    tag = uuid.uuid4().hex[:8]
    queue, provider_queue = f"rate-control-{tag}", f"llm-mixed-{tag}"
    client = dev_env.client
    start = ControllerInput(
        provider_queue=provider_queue,
        state=ControllerState(rate=5.0, phase="steady", answered_rate=4.0),
        mode="adaptive",
    )
    rates = SetRateRecordingFake()
    async with controller_running(client, queue, start, rates.set_rate) as handle:
        # A worker of the new build, declared-only, reports alone in this window.
        await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=3, mode="declared"))

        async def decided_after(moment: float) -> float | None:
            state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
            if state.decided_at is not None and state.decided_at > moment:
                return state.decided_at
            return None

        first = await wait_until(
            lambda: decided_after(0.0), timeout=30.0, what="a decision on the report"
        )
        # The next decision comes after the first one's rate was set (the run waits for it).
        await handle.signal(names.RATE_REPORT_SIGNAL, OutcomeReport(answered=3, mode="adaptive"))
        await wait_until(
            lambda: decided_after(first), timeout=30.0, what="a decision on the next report"
        )
        await handle.terminate("test over")

    assert None not in rates.set  # the queue's rate was never taken away
