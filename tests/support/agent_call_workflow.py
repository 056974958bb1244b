"""A test-only workflow that makes one agent call with a retry policy and heartbeat timeout short
enough for a test: what the attempts of one call do on a real server. Its own module with few
imports: the workflow sandbox re-imports the module a workflow is defined in."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.agents import ClassifyRequest


@workflow.defn(name="OneAgentCallWorkflow")
class OneAgentCallWorkflow:
    @workflow.run
    async def run(self, request: ClassifyRequest, task_queue: str) -> str:
        reply = await workflow.execute_activity(
            names.CLASSIFY_TICKET,
            request,
            task_queue=task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=0,
            ),
            schedule_to_close_timeout=timedelta(minutes=2),
        )
        return str(reply["output"]["category"])
