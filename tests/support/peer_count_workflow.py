"""A test-only workflow that runs one activity on a given queue and returns what it returned:
what an activity on a provider's queue sees of the workers polling it. Its own module with few
imports: the workflow sandbox re-imports the module a workflow is defined in."""

from datetime import timedelta
from typing import Any

from temporalio import workflow

NAME = "PeerCountProbe"
ACTIVITY = "count_queue_peers"


@workflow.defn(name=NAME)
class PeerCountProbe:
    @workflow.run
    async def run(self, task_queue: str) -> Any:
        return await workflow.execute_activity(
            ACTIVITY, task_queue=task_queue, start_to_close_timeout=timedelta(seconds=30)
        )
