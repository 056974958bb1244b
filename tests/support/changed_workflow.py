"""A test-only TicketWorkflow whose commands differ from the released one: it starts a timer
before anything else. Registered under the real name, it stands for a workflow change made
without ``workflow.patched``. Its own module with few imports: the workflow sandbox re-imports
the module a workflow is defined in."""

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shared import names


@workflow.defn(name=names.TICKET_WORKFLOW)
class TicketWorkflowWithATimerFirst:
    @workflow.run
    async def run(self, request: Any) -> str:
        await workflow.sleep(timedelta(milliseconds=10))
        return "a timer the released TicketWorkflow never starts"
