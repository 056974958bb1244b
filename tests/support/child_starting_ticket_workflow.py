"""Test-only stand-ins for a ticket that starts a child when told to (as a ticket starts its
orchestrator run, which starts sub-tasks), for erasure's tests. Their own module with few
imports: the workflow sandbox re-imports the module a workflow is defined in."""

from typing import Any

from temporalio import workflow

from shared import names

START_CHILD = "start_child"


@workflow.defn(name="WaitingChildFake")
class WaitingChildFake:
    @workflow.run
    async def run(self, request: Any = None) -> None:
        """``request``: the customer's text, as a ticket's orchestrator run holds it."""
        await workflow.wait_condition(lambda: False)


@workflow.defn(name=names.TICKET_WORKFLOW)
class ChildStartingTicketFake:
    """A running ticket (its input a ticket's) that starts ``<its id>/resolution`` when
    signalled, holding the ticket's text, and waits."""

    def __init__(self) -> None:
        self._go = False

    @workflow.signal(name=START_CHILD)
    def start_child(self) -> None:
        self._go = True

    @workflow.run
    async def run(self, request: dict[str, Any]) -> None:
        await workflow.wait_condition(lambda: self._go)
        await workflow.start_child_workflow(
            WaitingChildFake.run,
            request.get("ticket", {}).get("body"),
            id=f"{workflow.info().workflow_id}/resolution",
        )
        await workflow.wait_condition(lambda: False)
