"""A batch's refused child starts, started again as ``submit`` starts a ticket
(workflows/batch.py RESTARTS_AS_SUBMITTED, GROUPED_RESTARTS), and what each came to, counted in
the batch's state. Workflow code."""

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.batch import (
        ID_CONFLICT,
        MAX_CONFLICT_IDS,
        RESTART_FAILED,
        BatchState,
        RestartsDone,
        TicketRestart,
        TicketRestarts,
    )
    from shared.command_budget import fitting
    from shared.tickets import Ticket
    from workflows import options
    from workflows.batch_input import start_bytes, ticket_bytes

# One restart activity's tickets, at most (its input is one payload: the server refuses one over
# 2 MB). A group's refused starts past it go to a second activity, scheduled in the same task.
RESTART_BYTES = 1024 * 1024
# What a refused start came to.
STARTED, KNOWN, FAILED, CONFLICT = "started", "known", "failed", "conflict"


class BatchRestarts:
    def __init__(
        self, state: BatchState, in_flight: set[str], restarting: set[str] | None = None
    ) -> None:
        self._state = state
        self._in_flight = in_flight  # the batch's own set: a ticket counted leaves its window
        # The batch's own set of tickets being started again: a ticket counted leaves it.
        self._restarting = restarting if restarting is not None else set()

    def counted(self, ticket_id: str, outcome: str) -> None:
        """Count what a refused start came to: a ticket not started again leaves the window
        (unless it reported in meanwhile: counted then)."""
        totals = self._state.totals
        self._restarting.discard(ticket_id)
        if outcome == STARTED:
            totals.started += 1
        elif ticket_id in self._in_flight:
            self._in_flight.discard(ticket_id)
            if outcome == FAILED:
                settled = totals.settled
                settled[RESTART_FAILED] = settled.get(RESTART_FAILED, 0) + 1
            elif outcome == CONFLICT:
                settled = totals.settled
                settled[ID_CONFLICT] = settled.get(ID_CONFLICT, 0) + 1
                if len(totals.conflicts) < MAX_CONFLICT_IDS:
                    totals.conflicts.append(ticket_id)
            else:
                totals.already_known += 1

    async def restart_group(
        self, refused: list[Ticket], raws: dict[str, Any] | None = None
    ) -> None:
        """Start a group's refused tickets again as ``submit`` would (GROUPED_RESTARTS): one
        activity for them all, or one per RESTART_BYTES of them, in parallel. ``raws``: the
        inputs their child starts sent whole, by ticket id, started again whole (and counted
        twice in the size: the ticket and its input both travel)."""
        raws = raws or {}
        parts = []
        while refused:
            sizes = [
                ticket_bytes(t, encoded=True)
                + (start_bytes(t, raws[t.ticket_id], encoded=True) if t.ticket_id in raws else 0)
                for t in refused
            ]
            fits = fitting(sizes, RESTART_BYTES)
            parts.append(refused[:fits])
            refused = refused[fits:]
        await asyncio.gather(*(self._restart_part(part, raws) for part in parts))

    async def _restart_part(self, tickets: list[Ticket], raws: dict[str, Any]) -> None:
        info = workflow.info()
        keys = self._state.fairness_keys
        restarts = TicketRestarts(
            tickets=tickets,
            batch_id=info.workflow_id,
            task_queue=info.task_queue,
            fairness_keys={
                t.ticket_id: keys[t.ticket_id] for t in tickets if keys.get(t.ticket_id)
            },
            raw_inputs={t.ticket_id: raws[t.ticket_id] for t in tickets if t.ticket_id in raws},
        )
        try:
            done = await workflow.execute_activity(
                names.RESTART_TICKETS,
                restarts,
                result_type=RestartsDone,
                start_to_close_timeout=options.RESTART_TICKETS_START_TO_CLOSE,
                schedule_to_close_timeout=options.RESTART_TICKETS_SCHEDULE_TO_CLOSE,
                heartbeat_timeout=options.RESTART_TICKETS_HEARTBEAT,
                retry_policy=options.RESTART_TICKETS_RETRY,
                summary=f"start {len(tickets)} ticket(s) again",
            )
        except ActivityError as err:
            # Not known which it started (an attempt may have): they stay in the window, and the
            # check on quiet tickets counts each as its run closes (one it started reports in).
            workflow.logger.warning(
                "%d ticket(s) may not have started again, left to the check: %s", len(tickets), err
            )
            return
        started, conflicts = set(done.started), set(done.conflicts)
        for ticket in tickets:
            ticket_id = ticket.ticket_id
            if ticket_id in done.failed:
                workflow.logger.warning(
                    "ticket %s was not started again: %s", ticket_id, done.failed[ticket_id]
                )
            outcome = (
                STARTED
                if ticket_id in started
                else FAILED
                if ticket_id in done.failed
                else CONFLICT
                if ticket_id in conflicts
                else KNOWN
            )
            self.counted(ticket_id, outcome)

    async def restart_one(self, ticket: Ticket, raw: Any = None) -> str:
        """Start ``ticket`` again if an ended run without an answer holds its id (see
        RESTARTS_AS_SUBMITTED): STARTED; KNOWN when its holder runs or completed or is another
        ticket; FAILED when the start failed for good (the ended run stays as it is)."""
        info = workflow.info()
        restart = TicketRestart(
            ticket=ticket,
            batch_id=info.workflow_id,
            task_queue=info.task_queue,
            fairness_key=self._state.fairness_keys.get(ticket.ticket_id),
            raw=raw,
        )
        try:
            started = await workflow.execute_activity(
                names.RESTART_TICKET,
                restart,
                result_type=bool,
                start_to_close_timeout=options.RESTART_TICKET_START_TO_CLOSE,
                retry_policy=options.RESTART_TICKET_RETRY,
                summary=f"start {ticket.ticket_id} again",
            )
        except ActivityError as err:
            workflow.logger.warning("ticket %s was not started again: %s", ticket.ticket_id, err)
            return FAILED
        return STARTED if started else KNOWN
