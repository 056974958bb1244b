"""A test-only workflow that continues as new into another workflow type at once: the run it
starts is a later run (``workflow.info().continued_run_id`` set), as a swarm or batch that
continued as new is, with whatever state the test gives it. A later run started directly is a
first run to the fan-out workflows (patches started-run-is-first). Its own module with few
imports: the workflow sandbox re-imports the module a workflow is defined in."""

from typing import Any

from temporalio import workflow


@workflow.defn(name="ContinuedStart")
class ContinuedStart:
    @workflow.run
    async def run(self, workflow_type: str, args: list[Any]) -> None:
        workflow.continue_as_new(args=args, workflow=workflow_type)
