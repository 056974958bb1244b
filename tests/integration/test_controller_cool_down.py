"""A running rate controller takes the breaker cool-down its workers report: it kept the one it
was started with across all its runs (continue-as-new carries its input), so an operator who
raised ``breaker_cool_down_seconds`` and restarted the workers had the breaker reopen on the
old schedule, with nothing saying the setting was ignored."""

import time

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.queue_rate import ensure_controller
from policy.adaptive_rate import ControllerState
from shared import names
from shared.rate_control import OutcomeReport
from tests.replay.record_controllers import controller_worker, report_until

pytestmark = pytest.mark.usefixtures("replay_check")


async def test_a_changed_breaker_cool_down_reaches_a_running_controller(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    provider_queue = f"llm-cool-{task_queue}"
    handle = dev_env.client.get_workflow_handle(names.rate_controller_id(provider_queue))
    async with controller_worker(dev_env.client, task_queue):
        # Started as a worker configured with 30 s would start it.
        await ensure_controller(dev_env.client, provider_queue, task_queue, 1.0, 30.0)
        # Workers restarted with 300 s report it beside a provider failing most calls.
        failing = OutcomeReport(answered=1, failed=6, cool_down_seconds=300.0)
        await report_until(handle, failing, lambda s: s.phase == "open", "the breaker open")
        state = await handle.query(names.RATE_STATE_QUERY, result_type=ControllerState)
        left = state.open_until - time.time()
        await handle.terminate("test over")

    assert 200 < left <= 300, left
