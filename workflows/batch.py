"""BatchWorkflow: thousands of tickets as one batch of ticket child workflows.

A sliding window bounds the tickets in flight: a ticket leaves the window when it first rests
(completed, rejected, failed, cancelled, or waiting for a person), which it reports with a
signal. Child ids are the tickets' own workflow ids, so a ticket that already exists (submitted
before, by a batch or by hand) is never processed again. Children outlive the batch run that
started them (ABANDON), so the batch can continue as new every few hundred tickets.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from policy.transitions import TicketState
    from shared import names
    from shared import search_attributes as sa
    from shared.batch import BatchProgress, BatchState, TicketCheck, TicketSettled
    from shared.tickets import Ticket
    from shared.view import TicketRequest
    from workflows import options


@workflow.defn(name=names.BATCH_WORKFLOW)
class BatchWorkflow:
    @workflow.init
    def __init__(self, tickets: list[Ticket], state: BatchState) -> None:
        self._state = state
        self._state.totals.total = len(tickets)
        self._in_flight = set(state.in_flight)
        # Tickets that reported in, this run: a signal may arrive before the start resolves.
        self._settled: set[str] = set()

    @workflow.signal(name=names.TICKET_SETTLED_SIGNAL)
    def ticket_settled(self, event: TicketSettled) -> None:
        if event.ticket_id in self._settled:
            return
        self._settled.add(event.ticket_id)
        self._in_flight.discard(event.ticket_id)
        counts = self._state.totals.settled
        counts[event.state] = counts.get(event.state, 0) + 1

    @workflow.run
    async def run(self, tickets: list[Ticket], state: BatchState) -> BatchProgress:
        settings = state.settings
        started_this_run = 0
        while state.position < len(tickets):
            if started_this_run >= settings.tickets_per_run:
                await workflow.wait_condition(workflow.all_handlers_finished)
                state.in_flight = sorted(self._in_flight)
                state.totals.runs += 1
                workflow.continue_as_new(args=[tickets, state])
            await self._wait_until(lambda: len(self._in_flight) < settings.window)
            # Every free place at once: the starts go out as commands of one workflow task,
            # not one round trip each.
            free = min(
                settings.window - len(self._in_flight),
                len(tickets) - state.position,
                settings.tickets_per_run - started_this_run,
            )
            group = tickets[state.position : state.position + free]
            await asyncio.gather(*(self._start(ticket) for ticket in group))
            state.position += len(group)
            started_this_run += len(group)
        await self._wait_until(lambda: not self._in_flight)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.progress()

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        """Wait for tickets to report in; when none has for a while, ask the server which of
        the in-flight ones have closed without reporting and count them as they closed."""
        timeout = timedelta(seconds=self._state.settings.check_after_seconds)
        while True:
            try:
                await workflow.wait_condition(condition, timeout=timeout)
                return
            except TimeoutError:
                pass
            if not self._in_flight:
                continue
            closed = await workflow.execute_activity(
                names.CHECK_TICKETS,
                TicketCheck(ticket_ids=sorted(self._in_flight)),
                result_type=list[TicketSettled],
                start_to_close_timeout=options.CHECK_TICKETS_START_TO_CLOSE,
                heartbeat_timeout=options.CHECK_TICKETS_HEARTBEAT,
                retry_policy=options.CHECK_TICKETS_RETRY,
                summary=f"check {len(self._in_flight)} quiet ticket(s)",
            )
            for event in closed:
                workflow.logger.warning(
                    "ticket %s closed (%s) without reporting in", event.ticket_id, event.state
                )
                self.ticket_settled(event)

    async def _start(self, ticket: Ticket) -> None:
        totals = self._state.totals
        # Its place is taken from now: it may report in (signal) before the start resolves.
        self._in_flight.add(ticket.ticket_id)
        try:
            await workflow.start_child_workflow(
                names.TICKET_WORKFLOW,
                TicketRequest(ticket=ticket, batch_id=workflow.info().workflow_id),
                id=names.ticket_workflow_id(ticket.ticket_id),
                # The ticket lives on when this batch run continues as new or ends.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(sa.TICKET_STATE, TicketState.NEW.value)]
                ),
                memo={sa.MEMO_SUBJECT: ticket.subject},
                static_summary=f"Ticket {ticket.ticket_id}: {ticket.subject}"[:200],
            )
        except WorkflowAlreadyStartedError:
            self._in_flight.discard(ticket.ticket_id)
            totals.already_known += 1
            return
        totals.started += 1

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> BatchProgress:
        totals = self._state.totals
        return BatchProgress(
            total=totals.total,
            started=totals.started,
            already_known=totals.already_known,
            in_flight=len(self._in_flight),
            settled=dict(totals.settled),
        )
