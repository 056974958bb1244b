"""A test-only workflow that tries a move the lifecycle forbids. Its own module with few imports:
the workflow sandbox re-imports the module a workflow is defined in."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.transitions import TicketState
    from shared.tickets import Ticket
    from workflows.ticket_record import TicketRecord


@workflow.defn(name="IllegalMoveWorkflow")
class IllegalMoveWorkflow:
    @workflow.run
    async def run(self) -> None:
        ticket = Ticket(ticket_id="T-illegal", subject="Illegal", body="Skips every step.")
        record = TicketRecord(ticket)
        record.start()
        record.move(TicketState.COMPLETED, "test", "skipping every step")
