"""Stand-ins for the sub-task workflow (fakes, registered under its name in place of the real
one): a sub-task that, when its run cancels it, ends its own way instead of cancelled, as one
whose call answered in the same workflow task as the cancel would."""

import asyncio

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.agents import Usage
    from shared.orchestration import SubTaskInput, SubTaskOutcome, SubTaskStatus

# What the stand-ins say they spent.
LATE_SPEND = Usage(provider="fake", model="fake-model", input_tokens=7, output_tokens=3)


async def _until_cancelled() -> None:
    try:
        await workflow.wait_condition(lambda: False)
    except asyncio.CancelledError:
        return


@workflow.defn(name=names.SUBTASK_WORKFLOW)
class FakeSubTaskCompletingWhenCancelled:
    @workflow.run
    async def run(self, request: SubTaskInput) -> SubTaskOutcome:
        await _until_cancelled()
        return SubTaskOutcome(
            id=request.subtask.id,
            worker=request.subtask.worker,
            status=SubTaskStatus.COMPLETED,
            output="answered as the run was cancelled",
            usage=[LATE_SPEND],
            finished_at=workflow.now(),
        )


@workflow.defn(name=names.SUBTASK_WORKFLOW)
class FakeSubTaskFailingWhenCancelled:
    @workflow.run
    async def run(self, request: SubTaskInput) -> SubTaskOutcome:
        await _until_cancelled()
        raise ApplicationError(
            f"sub-task {request.subtask.id} failed as the run was cancelled",
            LATE_SPEND.model_dump(mode="json"),
            non_retryable=True,
        )
