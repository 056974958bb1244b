"""A test-only stand-in for a ticket waiting for review whose worker takes a review and never
answers it (a worker stuck or overloaded): the review's caller runs out of time. Its own module
with few imports: the workflow sandbox re-imports the module a workflow is defined in."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.transitions import TicketState
    from shared import names
    from shared.review import ReviewDecision, ReviewReceipt
    from shared.view import DraftRecord, TicketRequest, TicketView, Transition

NAME = "StalledReviewFake"
DRAFT = "We are looking into it."


@workflow.defn(name=NAME)
class StalledReviewFake:
    def __init__(self) -> None:
        self._view: TicketView | None = None

    @workflow.run
    async def run(self, request: TicketRequest) -> None:
        self._view = TicketView(
            ticket_id=request.ticket.ticket_id,
            subject=request.ticket.subject,
            state=TicketState.AWAITING_REVIEW,
            chain=workflow.info().first_execution_run_id,
            draft=DraftRecord(revision=1, text=DRAFT, author="offline"),
            transitions=[
                Transition(
                    from_state=TicketState.VALIDATED,
                    to_state=TicketState.AWAITING_REVIEW,
                    at=workflow.now(),
                    agent="policy",
                    reason="a test waits for a review",
                )
            ],
        )
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> TicketView | None:
        return self._view

    @workflow.update(name=names.SUBMIT_REVIEW_UPDATE)
    async def submit_review(self, decision: ReviewDecision) -> ReviewReceipt:
        await workflow.wait_condition(lambda: False)
        raise AssertionError("never answers")
