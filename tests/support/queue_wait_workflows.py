"""Two test-only versions of one workflow that differ only in an activity's schedule-to-start
timeout, the change agent calls got for the circuit breaker (workflows/agent_calls.py). Their own
module with few imports: the workflow sandbox re-imports the module a workflow is defined in."""

from datetime import timedelta

from temporalio import workflow

NAME = "QueueWaitProbe"
ACTIVITY = "queue_wait_probe_call"


@workflow.defn(name=NAME)
class BeforeTheQueueWait:
    @workflow.run
    async def run(self) -> str:
        return str(
            await workflow.execute_activity(ACTIVITY, start_to_close_timeout=timedelta(seconds=10))
        )


@workflow.defn(name=NAME)
class WithTheQueueWait:
    @workflow.run
    async def run(self) -> str:
        return str(
            await workflow.execute_activity(
                ACTIVITY,
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_start_timeout=timedelta(seconds=120),
            )
        )


@workflow.defn(name=NAME)
class WithAnotherActivity:
    """A new command where the history has another: what replay must refuse."""

    @workflow.run
    async def run(self) -> str:
        await workflow.sleep(timedelta(milliseconds=1))
        return "changed"
