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
from typing import Any

from temporalio import workflow
from temporalio.common import (
    Priority as TemporalPriority,
)
from temporalio.common import (
    RawValue,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from policy.priority import usable_fairness_key
    from policy.transitions import TicketState
    from shared import names
    from shared import search_attributes as sa
    from shared.batch import (
        INVALID,
        MAX_BATCH_TICKETS,
        OPERATOR_ENDED,
        REPLACED,
        SETTLED_STATES,
        BatchProgress,
        BatchState,
        TicketCheck,
        TicketSettled,
    )
    from shared.command_budget import fitting
    from shared.tickets import Ticket, content_digest
    from shared.view import TicketRequest
    from workflows import options
    from workflows.batch_input import BatchReads, start_bytes
    from workflows.batch_patches import (
        BATCH_REFUSES_TOO_MANY,
        BATCH_STARTED_RUN_IS_FIRST,
        BYTE_BOUNDED_GROUPS,
        CANCEL_DURING_CHECK,
        DUPLICATE_IN_FLIGHT,
        ENCODED_SIZE_GROUPS,
        GROUPED_RESTARTS,
        REPLACED_COUNTED,
        RESTARTS_AS_SUBMITTED,
        RESTARTS_SEND_WHOLE,
        SETTLED_STATE_CHECKED,
        TICKETS_OUTLIVE_CANCEL,
        UNKNOWN_FIELDS_LEFT_OUT,
    )
    from workflows.batch_restarts import FAILED, KNOWN, BatchRestarts
    from workflows.run_chain import memo_again, this_run_is_later
    from workflows.started_input import (
        ABSENT,
        MISSING,
        extra_arguments,
        extra_problem,
        read_list,
        read_payload,
        refusal,
        signal_problem,
    )


# Child starts per workflow task, at most: one task's commands must stay well under the server's
# 4 MB message limit (and under shared/command_budget.py's byte budget: a ticket may be 80 KB).
START_GROUP = 100
# How many invalid tickets' reasons the batch keeps (all are counted).
MAX_INVALID_REASONS = 20


@workflow.defn(name=names.BATCH_WORKFLOW)
class BatchWorkflow:
    @workflow.init
    @extra_arguments
    def __init__(self, tickets: Any = None, state: RawValue = MISSING, *extra: Any) -> None:
        # Read here, not by the data converter: an input it refused (from a program other than
        # the CLI) failed the batch's first workflow task on every attempt; now the run fails,
        # naming the fields (workflows/started_input.py). Each argument has a default: one left
        # out was a TypeError in the SDK, the same first task failing for ever.
        tickets, tickets_problem = read_list(tickets, "tickets")
        more = extra_problem(extra, "two: the tickets and the batch's state")
        # With more arguments than it takes, none was decoded as its type (extra_arguments).
        read_state, state_problem = None, None
        if more is None:
            read_state, state_problem = read_payload(BatchState, state, "state")
        self._refused_input = refusal("batch", [tickets_problem, state_problem, more])
        state = read_state or BatchState()
        self._tickets = tickets
        self._state = state
        self._state.totals.total = len(tickets)
        # Each ticket validated by the workflow rather than by the data converter, whose refusal
        # of one ticket failed the batch's workflow task over and over (no ticket of it ever
        # started); and when a run first needs it, not all at each run's start (BatchReads).
        self._read = BatchReads(tickets)
        # Whether this run reads the tickets leniently (UNKNOWN_FIELDS_LEFT_OUT answered yes).
        self._lenient = False
        self._in_flight = set(state.in_flight)
        # The refused tickets being started again, until what each came to is known (progress:
        # not known to be started; kept for one whose restart activity failed).
        self._restarting: set[str] = set(state.restarting) & self._in_flight
        # Refused starts started again, and what they came to (counted in state, the window
        # freed): the same state, in-flight and restarting sets as this workflow's.
        self._restarter = BatchRestarts(state, self._in_flight, self._restarting)
        self._last_check = workflow.now()
        # RESTARTS_AS_SUBMITTED's answer in this run, once asked. The SDK keeps a patch's first
        # answer for the whole run: a run whose history (from before the change) answered no
        # goes on taking over ended runs' ids with its child starts, as it did, rather than
        # neither taking them over nor restarting them.
        self._restarts: bool | None = None
        # The current group's refused starts, to start again together (GROUPED_RESTARTS).
        self._refused: list[Ticket] = []
        # Their inputs sent whole (unknown-fields-left-out), by ticket id: started again so.
        self._refused_raw: dict[str, Any] = {}

    @workflow.signal(name=names.TICKET_SETTLED_SIGNAL)
    @extra_arguments
    def ticket_settled(self, event: TicketSettled = ABSENT, *extra: Any) -> None:  # type: ignore[assignment]
        if (problem := signal_problem(event, extra)) is not None:
            workflow.logger.warning("a ticket_settled signal ignored: %s", problem)
            return
        # Only a ticket this batch has in flight frees a place: a second report (a ticket reset
        # to before its first), or one from a ticket of an earlier batch with the same id, is not
        # counted again.
        if event.ticket_id not in self._in_flight:
            return
        known = event.state in SETTLED_STATES and (
            event.state != REPLACED or workflow.patched(REPLACED_COUNTED)
        )
        if not known and workflow.patched(SETTLED_STATE_CHECKED):
            workflow.logger.warning("a ticket_settled signal with no ticket's state ignored")
            return
        self._in_flight.discard(event.ticket_id)
        counts = self._state.totals.settled
        counts[event.state] = counts.get(event.state, 0) + 1

    @workflow.run
    @extra_arguments
    async def run(
        self, tickets: Any = None, state: RawValue = MISSING, *extra: Any
    ) -> BatchProgress:
        if self._refused_input is not None:
            raise self._refused_input
        tickets, state = self._tickets, self._state
        settings = state.settings
        first_run = state.totals.runs == 1 and state.position == 0 and not state.in_flight
        if (
            not first_run
            and len(tickets) > MAX_BATCH_TICKETS
            and not this_run_is_later(state.continued_from)
            and workflow.patched(BATCH_STARTED_RUN_IS_FIRST)
        ):
            first_run = True  # started with a later run's position: refused all the same
        if (
            first_run
            and len(tickets) > MAX_BATCH_TICKETS
            and workflow.patched(BATCH_REFUSES_TOO_MANY)
        ):
            raise ApplicationError(
                f"the batch has {len(tickets):,} tickets; a batch takes at most "
                f"{MAX_BATCH_TICKETS:,}: split the input and run each part as a batch of its own",
                type="BatchTooLarge",
                non_retryable=True,
            )
        # Asked only for an input with keys that are not a ticket's: a history recorded by a
        # version that refused them replays its refusals (counted INVALID; replayed, a patch
        # its history lacks reads as not taken). Each ticket whose fields were left out is
        # named as it starts (_sent_whole).
        if self._read.any_other_keys(state.position) and workflow.patched(UNKNOWN_FIELDS_LEFT_OUT):
            self._lenient = True
        started_this_run = 0
        while state.position < len(tickets) or self._in_flight:
            if (
                started_this_run >= settings.tickets_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                state.in_flight = sorted(self._in_flight)
                state.restarting = sorted(self._restarting & self._in_flight)
                if state.fairness_keys:
                    # By the ids as given, without reading each ticket left (the keys are the
                    # client's, made for tickets it read as valid).
                    waiting = self._read.ids_from(state.position)
                    state.fairness_keys = {
                        k: v for k, v in state.fairness_keys.items() if k in waiting
                    }
                state.totals.runs += 1
                state.continued_from = workflow.info().run_id
                workflow.continue_as_new(args=[tickets, state], memo=memo_again())
            if state.position >= len(tickets):
                await self._wait_or_check(lambda: not self._in_flight)
                continue
            if not await self._wait_or_check(lambda: len(self._in_flight) < settings.window):
                continue
            # The free places at once: the starts go out as commands of one workflow task, not a
            # round trip each (at most START_GROUP, to keep one task's commands small).
            free = min(
                settings.window - len(self._in_flight),
                len(tickets) - state.position,
                settings.tickets_per_run - started_this_run,
                START_GROUP,
            )
            group = [self._ticket(place) for place in range(state.position, state.position + free)]
            raws = [self._sent_whole(state.position + i) for i in range(len(group))]
            fits = fitting([start_bytes(t, raw) for t, raw in zip(group, raws, strict=True)])
            # Asked only when the budget cuts the group: other batches' histories are unchanged.
            if fits < len(group) and workflow.patched(BYTE_BOUNDED_GROUPS):
                group = group[:fits]
            # (zip: the group may have been cut; its raws are the first ones)
            encoded = fitting(
                [start_bytes(t, raw, encoded=True) for t, raw in zip(group, raws, strict=False)]
            )
            if encoded < len(group) and workflow.patched(ENCODED_SIZE_GROUPS):
                group = group[:encoded]
            for reason in (t for t in group if isinstance(t, str)):
                self._invalid(reason)
            await asyncio.gather(
                *(
                    self._start(t, raw)
                    for t, raw in zip(group, raws, strict=False)
                    if isinstance(t, Ticket)
                )
            )
            if self._refused:
                await self._restart_refused()
            state.position += len(group)
            started_this_run += len(group)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.progress()

    async def _wait_or_check(self, condition: Callable[[], bool]) -> bool:
        """Wait for ``condition`` until the next check is due; then ask the server which of the
        in-flight tickets have closed without reporting in (terminated by an operator, timed out)
        and count them as they closed. True when the condition holds."""
        every = timedelta(seconds=self._state.settings.check_after_seconds)
        due = self._last_check + every - workflow.now()
        try:
            await workflow.wait_condition(condition, timeout=max(due, timedelta(seconds=1)))
            return True
        except TimeoutError:
            pass
        self._last_check = workflow.now()
        if not self._in_flight:
            return condition()
        try:
            closed = await workflow.execute_activity(
                names.CHECK_TICKETS,
                TicketCheck(ticket_ids=sorted(self._in_flight)),
                result_type=list[TicketSettled],
                start_to_close_timeout=options.CHECK_TICKETS_START_TO_CLOSE,
                heartbeat_timeout=options.CHECK_TICKETS_HEARTBEAT,
                retry_policy=options.CHECK_TICKETS_RETRY,
                summary=f"check {len(self._in_flight)} ticket(s) in flight",
            )
        except ActivityError as err:
            if is_cancelled_exception(err) and workflow.patched(CANCEL_DURING_CHECK):
                raise  # the batch's own cancel: not a check that failed
            # The check is a safety net: if it cannot run now, the next one will.
            workflow.logger.warning("checking tickets in flight failed: %s", err)
            return condition()
        for event in closed:
            if event.ticket_id in self._restarting and event.state in OPERATOR_ENDED:
                # Its start again failed for good (restart_tickets): the run found is the ended
                # one that held its id, most likely, which was counted as an operator's decision
                # (and `batch --wait` exited 0) for a ticket this batch never worked on.
                workflow.logger.warning(
                    "ticket %s was not started again: its id is still held by a run that "
                    "ended (%s)",
                    event.ticket_id,
                    event.state,
                )
                self._restarter.counted(event.ticket_id, FAILED)
                continue
            workflow.logger.warning(
                "ticket %s closed (%s) without reporting in", event.ticket_id, event.state
            )
            self.ticket_settled(event)
        return condition()

    def _invalid(self, reason: str) -> None:
        """A ticket of the input that is not one: counted at rest as INVALID, with its reason
        (the first MAX_INVALID_REASONS kept), so the batch still ends and says which."""
        totals = self._state.totals
        totals.settled[INVALID] = totals.settled.get(INVALID, 0) + 1
        if len(totals.invalid) < MAX_INVALID_REASONS:
            totals.invalid.append(reason)
        workflow.logger.warning(
            "batch input: a ticket is not valid (%d so far)", totals.settled[INVALID]
        )

    def _ticket(self, place: int) -> Ticket | str:
        """The ticket at ``place``, or why it is not one, as this run reads the input."""
        read = self._read[place]
        return read.lenient if self._lenient else read.strict

    def _sent_whole(self, place: int) -> Any:
        """The input of the ticket at ``place`` (by place: an id may be listed twice) when its
        child gets it whole, fields this version does not know included, so it names them (and
        a newer worker that runs it reads them); else None."""
        read = self._read[place]
        if self._lenient and read.unknown_fields and isinstance(read.lenient, Ticket):
            workflow.logger.warning(
                "batch input: ticket %s: fields this worker does not know are left to its "
                "workflow: %s",
                read.lenient.ticket_id,
                ", ".join(read.unknown_fields),
            )
            return read.raw
        return None

    async def _start(self, ticket: Ticket, raw: Any = None) -> None:
        """Start ``ticket``'s child; ``raw``: its input, sent whole (unknown-fields-left-out)."""
        totals = self._state.totals
        if ticket.ticket_id in self._in_flight and workflow.patched(DUPLICATE_IN_FLIGHT):
            # Listed twice: the first listing is in flight (its place and report are its own).
            totals.already_known += 1
            return
        # Its place is taken from now: it may report in (signal) before the start resolves.
        self._in_flight.add(ticket.ticket_id)
        batch_id = workflow.info().workflow_id
        request: TicketRequest | dict[str, Any] = (
            TicketRequest(ticket=ticket, batch_id=batch_id)
            if raw is None
            else {"ticket": raw, "batch_id": batch_id}
        )
        try:
            await workflow.start_child_workflow(
                names.TICKET_WORKFLOW,
                request,
                id=names.ticket_workflow_id(ticket.ticket_id),
                # The ticket lives on when this batch run continues as new or ends.
                parent_close_policy=ParentClosePolicy.ABANDON,
                # Nor is it asked to cancel when this batch is cancelled while the start is in
                # flight (a docs/fanout.md promise: a ticket started goes on to its answer).
                cancellation_type=(
                    ChildWorkflowCancellationType.ABANDON
                    if workflow.patched(TICKETS_OUTLIVE_CANCEL)
                    else ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED
                ),
                # An ended run's id is not taken over here (RESTARTS_AS_SUBMITTED); the policy is
                # an attribute of the command, which replay does not compare.
                id_reuse_policy=(
                    WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                    if self._restarts is False
                    else WorkflowIDReusePolicy.REJECT_DUPLICATE
                ),
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(sa.TICKET_STATE, TicketState.NEW.value)]
                ),
                # Data on the same command (no patch): a later submission under this id with
                # other content is then refused as a collision (shared/operations.py).
                memo={sa.MEMO_SUBJECT: ticket.subject, sa.MEMO_CONTENT: content_digest(ticket)},
                static_summary=f"Ticket {ticket.ticket_id}: {ticket.subject}"[:200],
                # Each ticket keyed by its customer, as tickets submitted one by one are, with
                # the key the client made under its key ring; none when it sent none (a plain
                # digest of the customer id would sit unencrypted in histories and task-queue
                # statistics). An attribute of the command, not a command: no patch.
                priority=TemporalPriority(
                    fairness_key=usable_fairness_key(
                        self._state.fairness_keys.get(ticket.ticket_id)
                    )
                ),
            )
        except WorkflowAlreadyStartedError:
            # A ticket of this id already running with this batch's id (the batch reset, or
            # terminated and run again) may have reported in meanwhile: counted as settled
            # then, not a second time as already known.
            if ticket.ticket_id not in self._in_flight:
                return
            self._restarts = workflow.patched(RESTARTS_AS_SUBMITTED)
            if self._restarts and workflow.patched(GROUPED_RESTARTS):
                self._refused.append(ticket)  # with the group's other refusals (run)
                if raw is not None:
                    self._refused_raw[ticket.ticket_id] = raw
                return
            self._restarter.counted(
                ticket.ticket_id,
                await self._restarter.restart_one(ticket, raw) if self._restarts else KNOWN,
            )
            return
        totals.started += 1

    async def _restart_refused(self) -> None:
        """Start the group's refused tickets again as ``submit`` would (GROUPED_RESTARTS)."""
        # One that reported in meanwhile (its id held by a run of this batch) is counted.
        refused = [t for t in self._refused if t.ticket_id in self._in_flight]
        raws, self._refused, self._refused_raw = self._refused_raw, [], {}
        if raws and not workflow.patched(RESTARTS_SEND_WHOLE):
            raws = {}
        self._restarting.update(t.ticket_id for t in refused)
        # Each leaves the set as what it came to is counted; on a cancellation, or when the
        # activity failed, they stay: not known to have started.
        await self._restarter.restart_group(refused, raws)

    @workflow.query(name=names.PROGRESS_QUERY)
    def progress(self) -> BatchProgress:
        totals = self._state.totals
        return BatchProgress(
            total=totals.total,
            started=totals.started,
            already_known=totals.already_known,
            in_flight=len(self._in_flight),
            settled=dict(totals.settled),
            invalid=list(totals.invalid),
            conflicts=list(totals.conflicts),
            restarting=len(self._restarting & self._in_flight)
            + sum(t.ticket_id in self._in_flight for t in self._refused),
        )
