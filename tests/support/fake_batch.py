"""A fake batch workflow for tests of a ticket's report to its batch: it only takes the reports."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.batch import TicketSettled


@workflow.defn(name="FakeBatchOfTheTests")
class FakeBatch:
    """Stands in for the batch: takes a ticket's report, and ends with the states reported."""

    def __init__(self) -> None:
        self.told: list[str] = []

    @workflow.signal(name=names.TICKET_SETTLED_SIGNAL)
    def settled(self, event: TicketSettled) -> None:
        self.told.append(f"{event.ticket_id}:{event.state}")

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: bool(self.told))
        return self.told
