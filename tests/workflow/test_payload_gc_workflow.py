"""PayloadGc, the scheduled payload collection's workflow: a run that could not check some
owners fails (their payloads were kept), naming how many and the first, so the schedule's list
of runs shows it as the command's exit code would; the activity gets a heartbeat timeout and a
retry policy bounded in time."""

import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from shared.payload_gc import GcRequest
from tests.support.payload_gc import collect_payloads_not_all_checked_fake
from workflows.payload_gc import ATTEMPT_TIMEOUT, HEARTBEAT_TIMEOUT, RETRY, PayloadGcWorkflow

pytestmark = pytest.mark.timeout(60)


async def test_a_run_that_could_not_check_an_owner_fails_naming_it(
    dev_env: WorkflowEnvironment,
) -> None:
    client, queue = dev_env.client, f"gc-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PayloadGcWorkflow],
        activities=[collect_payloads_not_all_checked_fake],
    ):
        handle = await client.start_workflow(
            PayloadGcWorkflow.run,
            GcRequest(grace_seconds=3600),
            id=f"payload-gc-test-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "OwnersNotChecked" and cause.non_retryable
    assert "1 owner(s) could not be checked and their payloads were kept" in cause.message
    assert "ticket-T-REC: the server answered: recorded" in cause.message
    scheduled = [
        e.activity_task_scheduled_event_attributes
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert len(scheduled) == 1
    assert scheduled[0].heartbeat_timeout.ToTimedelta() == HEARTBEAT_TIMEOUT
    assert scheduled[0].start_to_close_timeout.ToTimedelta() == ATTEMPT_TIMEOUT
    policy = scheduled[0].retry_policy
    assert (
        policy.initial_interval.ToTimedelta(),
        policy.backoff_coefficient,
        policy.maximum_interval.ToTimedelta(),
        policy.maximum_attempts,
    ) == (RETRY.initial_interval, RETRY.backoff_coefficient, RETRY.maximum_interval, 6)
