"""A rate the controller failed to set, on the dev server (patch "failed-sets-retried"): the
rate in force is unknown after it, so the next one wanted is set whatever it is, and a failed
pause is set again while the breaker is open.

Found by a review (2026-12-07): the controller kept believing the rate from before a failed set.
A pause that reached the server but whose answer was lost left the queue paused when the probe
wanted that rate back (a provider at 1 request a second or less: the probe rate is the same), so
no call and no report came until the run continued as new, ~200 ticks later; and a failed pause
waited for the end of the cool-down, the queue still dispatching to a failing provider."""

import time

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import OutcomeReport, QueueRateChange
from tests.integration.test_rate_controller_renewal import (
    SetRateRefusingFirstFake,
    controller_running,
    new_controller,
)
from tests.support.temporal import wait_until

pytestmark = pytest.mark.usefixtures("replay_check")

# The breaker opens on these (policy/circuit_breaker.py: four ended calls, half failed).
FAILING = OutcomeReport(failed=4)


class SetRateAnswerLostFake:
    """A fake of the set-rate activity whose first ``lost`` calls reach the server (the rate is
    set) but whose answers are lost (each raises); every call's rate recorded, and what the
    queue's rate is."""

    def __init__(self, lost: int) -> None:
        self.lost = lost
        self.calls: list[float | None] = []
        self.queue_rate: float | None = None

    @activity.defn(name=names.SET_QUEUE_RATE)
    async def set_rate(self, change: QueueRateChange) -> None:
        self.calls.append(change.requests_per_second)
        self.queue_rate = change.requests_per_second
        if self.lost > 0:
            self.lost -= 1
            raise ApplicationError("deadline exceeded (the rate was set; its answer lost)")


async def test_a_pause_whose_answer_was_lost_is_undone_when_the_probe_wants_the_old_rate(
    dev_env: WorkflowEnvironment,
) -> None:
    # A provider limited to 1 request a second: the probe rate (1/s) is the rate from before.
    queue, start = new_controller(
        "lost", ControllerState(rate=1.0, phase="steady", ceiling=1.05), cool_down_seconds=1.0
    )
    fake = SetRateAnswerLostFake(lost=3)  # the pause's three attempts: set, answers lost
    async with controller_running(dev_env.client, queue, start, fake.set_rate) as handle:
        await handle.signal(names.RATE_REPORT_SIGNAL, FAILING)

        async def queue_running_again() -> bool:
            return fake.lost == 0 and fake.queue_rate == 1.0

        await wait_until(queue_running_again, timeout=30.0, what="the queue's rate set again")
        await handle.terminate("test over")

    assert fake.calls[:3] == [0.0, 0.0, 0.0] and fake.calls[3:] == [1.0]


async def test_a_failed_pause_is_set_again_while_the_breaker_is_open(
    dev_env: WorkflowEnvironment,
) -> None:
    queue, start = new_controller(
        "pause",
        ControllerState(rate=4.0, phase="steady", ceiling=4.2, answered_rate=4.0),
        cool_down_seconds=120.0,  # longer than the test waits
    )
    fake = SetRateRefusingFirstFake(refusals=3)  # the pause's three attempts refused
    async with controller_running(dev_env.client, queue, start, fake.set_rate) as handle:
        await handle.signal(names.RATE_REPORT_SIGNAL, FAILING)

        async def paused() -> bool:
            return fake.set == [0.0]

        await wait_until(paused, timeout=30.0, what="the pause set again within the cool-down")
        state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
        await handle.terminate("test over")

    assert state.phase == "open" and state.open_until - time.time() > 60
    # Setting the pause again decided nothing: an empty window of the cool-down halved the
    # measured rate each time, and the first cut after the breaker closed went that much deeper.
    assert state.answered_rate == 4.0
    assert fake.calls == [0.0] * 4
