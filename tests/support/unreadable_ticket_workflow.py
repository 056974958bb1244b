"""Test-only stand-ins for ticket workflows whose worker fails the status query (as a workflow
that no longer replays, or a worker missing a key, would): one that keeps running, and one that
completes returning the view it was given, as a ticket returns its view. Their own module with
few imports: the workflow sandbox re-imports the module a workflow is defined in."""

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from shared import names

NAME = "UnreadableTicketFake"
PROBLEM = "the view cannot be built"


@workflow.defn(name=NAME)
class UnreadableTicketFake:
    @workflow.run
    async def run(self, request: Any = None) -> None:
        """``request``: a ticket's input, so its message reads as a real ticket's does."""
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> None:
        raise ApplicationError(PROBLEM)


@workflow.defn(name="FinishedTicketFake")
class FinishedTicketFake:
    @workflow.run
    async def run(self, view: Any) -> Any:
        return view

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> None:
        raise ApplicationError(PROBLEM)
