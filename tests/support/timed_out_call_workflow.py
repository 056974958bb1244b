"""A test-only workflow whose one agent call ends by its time bound while an attempt is running:
the failure it gets is a timeout, not the provider's error, and it returns what the workflows'
``usage_of_failed_call`` bills for it. Its own module with few imports: the workflow sandbox
re-imports the module a workflow is defined in."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.agents import ClassifyRequest, Usage
    from workflows.agent_failures import usage_of_failed_call


@workflow.defn(name="TimedOutAgentCallWorkflow")
class TimedOutAgentCallWorkflow:
    @workflow.run
    async def run(self, request: ClassifyRequest, task_queue: str, seconds: float) -> Usage | None:
        try:
            await workflow.execute_activity(
                names.CLASSIFY_TICKET,
                request,
                task_queue=task_queue,
                schedule_to_close_timeout=timedelta(seconds=seconds),
                heartbeat_timeout=timedelta(seconds=seconds),
                retry_policy=RetryPolicy(maximum_attempts=0),
            )
        except ActivityError as err:
            return usage_of_failed_call(err)
        raise ApplicationError(
            "the call answered; the test wanted it to run out of time", non_retryable=True
        )
