"""TicketWorkflow: one durable workflow per ticket, from intake to exactly-once delivery.

classify -> triage -> knowledge base -> (draft -> validate)* -> [human review] -> deliver

(The agents' stages are workflows/ticket_stages.py; delivery, exactly once,
workflows/ticket_delivery.py; the record of the ticket's state, workflows/ticket_record.py; the
review gate, workflows/review_gate.py.)

The workflow sequences agents and owns the ticket's state; agents are activities that get inputs
and return outputs, so no two agents ever race on a ticket. Rules (transitions, review policy, SLA,
budget) live in ``policy`` and are only called from here.
"""

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from policy.budget import EarlierSpend, earlier_spend
    from policy.review_policy import ReasonCode, ReviewReason
    from policy.sla import earlier_intake
    from policy.transitions import TicketState, is_terminal
    from shared import names
    from shared import search_attributes as sa
    from shared.agents import AgentRole, Draft
    from shared.batch import TicketSettled
    from shared.orchestration import OrchestrationSpent
    from shared.review import ReviewAction, ReviewDecision, ReviewReceipt
    from shared.tickets import Ticket
    from shared.view import TicketRequest, TicketView
    from workflows.agent_calls import HandOff, config_snapshot, describe_failure
    from workflows.orchestrated_draft import orchestration_run_id
    from workflows.review_gate import ReviewGate
    from workflows.started_input import ABSENT, extra_arguments, extra_problem, signal_problem
    from workflows.ticket_delivery import deliver
    from workflows.ticket_patches import (
        PATCH_BUDGET_COUNTS_EARLIER_RUNS,
        PATCH_BUDGET_STOP_CLASSIFIES,
        PATCH_CANCEL_WAITS_FOR_SEND,
        PATCH_DELIVERING_STATE,
        PATCH_IGNORE_UNKNOWN_INPUT_FIELDS,
        PATCH_ILLEGAL_TRANSITION_TELLS_BATCH,
        PATCH_INVALID_INPUT_TELLS_BATCH,
        PATCH_LEAN_HISTORY,
        PATCH_REWORK_FAILURE,
        PATCH_SLA_FROM_FIRST_INTAKE,
        PATCH_STAGES_AT_REST,
        PATCH_START_STOP_HEEDS_ESCALATION,
        REWORK_AGENT_ACTIVITIES,
    )
    from workflows.ticket_record import ILLEGAL_TRANSITION, TicketRecord
    from workflows.ticket_request import parse_request, raw_batch_id
    from workflows.ticket_stages import TicketStages, has_escalation_cues

S = TicketState


@workflow.defn(name=names.TICKET_WORKFLOW)
class TicketWorkflow:
    @workflow.init
    @extra_arguments
    def __init__(self, request: Any = None, *extra: Any) -> None:
        # A default: a start with no argument was a TypeError in the SDK, its first workflow
        # task failing for ever; now an invalid input like any other. So is a start with more
        # than one (workflows/started_input.py extra_arguments).
        read = parse_request(request)
        parsed, self._invalid_input = read.request, read.problem
        # Fields of a newer version's input, left out (see run()).
        self._unknown_fields, self._strict_problem = read.unknown_fields, read.strict_problem
        self._asks_to_leave_out = read.asks_to_leave_out
        more = extra_problem(extra, "one: the ticket request")
        if more is not None:
            self._invalid_input = more if read.problem is None else f"{read.problem}; {more}"
            self._asks_to_leave_out = False
        if parsed is None:
            ticket_id = names.ticket_id_from_workflow_id(workflow.info().workflow_id)
            # Only the id and a placeholder subject: enough for the status query and the record.
            parsed = TicketRequest.model_construct(
                ticket=Ticket.model_construct(ticket_id=ticket_id, subject="(invalid input)")
            )
        self._ticket = parsed.ticket
        self._record = TicketRecord(parsed.ticket)
        self._reviews = ReviewGate(self._record)
        self._told_batch = False
        # An input that is no request may still name its batch, which must learn it failed.
        self._batch_id = parsed.batch_id if read.request is not None else raw_batch_id(request)
        # Set by run() before anything else: whether this run takes the lean-history paths,
        # whether a queued delivery moves it to DELIVERING (the delivering-state version), and
        # whether a cancellation waits for a delivery attempt that is sending (the
        # cancel-waits-for-send version). (Whether moves between agent states are published, the
        # stages-at-rest version, is the record's.)
        self._lean = False
        self._delivering = False
        self._cancel_waits = False
        # What the ticket's earlier runs spent, counted against its budget (set by run()).
        self._earlier: EarlierSpend | None = None
        # Whether a budget stop before the classifier's answer goes to a person (set by run()
        # for a ticket with earlier spend; asked on that path for the others).
        self._budget_stop_classifies = False
        self._start_stop_urgent = False  # PATCH_START_STOP_HEEDS_ESCALATION answered yes
        # When the customer first wrote, for a ticket started again after runs that ended
        # without an answer (the memo's; set by run() once the version is asked).
        self._first_intake: datetime | None = None
        # The chains of the runs this one was started to replace (the memo's; data for the
        # delivery only, no command).
        self._replaces: list[str] = []

    # ---- the lifecycle ---------------------------------------------------------------------------

    @workflow.run
    @extra_arguments
    async def run(self, request: Any = None, *extra: Any) -> TicketView:
        # Asked first, before the first command that differs between the versions. A new ticket
        # records one marker, the newest version's, which implies the earlier ones.
        self._record.stages_at_rest = workflow.patched(PATCH_STAGES_AT_REST)
        self._cancel_waits = self._record.stages_at_rest or workflow.patched(
            PATCH_CANCEL_WAITS_FOR_SEND
        )
        self._delivering = self._cancel_waits or workflow.patched(PATCH_DELIVERING_STATE)
        self._lean = self._delivering or workflow.patched(PATCH_LEAN_HISTORY)
        self._record.lean = self._reviews.lean = self._lean
        replaces = self._memo_value(sa.MEMO_REPLACES_CHAINS)
        if isinstance(replaces, list):
            self._replaces = [c for c in replaces if isinstance(c, str) and c]
        earlier = earlier_spend(self._memo_value(sa.MEMO_EARLIER_USAGE))
        if earlier is not None and workflow.patched(PATCH_BUDGET_COUNTS_EARLIER_RUNS):
            self._earlier = earlier
            self._budget_stop_classifies = workflow.patched(PATCH_BUDGET_STOP_CLASSIFIES)
        first_intake = earlier_intake(self._memo_value(sa.MEMO_FIRST_INTAKE))
        if first_intake is not None and workflow.patched(PATCH_SLA_FROM_FIRST_INTAKE):
            self._first_intake = first_intake
        self._record.view.chain = workflow.info().first_execution_run_id
        self._record.start()
        if self._asks_to_leave_out:
            # Asked only for an input with fields beyond those the rule was decided for
            # (ticket_request.REQUEST_FIELDS, frozen: every version asks alike): a history
            # recorded by a version that refused them replays its refusal.
            if workflow.patched(PATCH_IGNORE_UNKNOWN_INPUT_FIELDS):
                self._record.view.ignored_input_fields = self._unknown_fields
                if self._unknown_fields:
                    workflow.logger.warning(
                        "ticket %s: input fields this worker does not know were left out: %s",
                        self._ticket.ticket_id,
                        ", ".join(self._unknown_fields),
                    )
            else:
                self._invalid_input = self._strict_problem
        if self._invalid_input is not None:
            reason = f"invalid ticket input: {self._invalid_input}"
            self._record.view.failure = reason
            self._record.move(S.FAILED, "intake", reason)
            if self._batch_id is not None and workflow.patched(PATCH_INVALID_INPUT_TELLS_BATCH):
                await self._tell_batch(S.FAILED)
            raise ApplicationError(
                f"ticket {self._ticket.ticket_id}: {reason}",
                type="InvalidTicket",
                non_retryable=True,
            )
        # The priority a budget stop before this run's first call gives, asked here, for a valid
        # input, before the configuration snapshot: the hand-off is in the snapshot's workflow
        # task, where this patch could not be asked.
        self._start_stop_urgent = (
            self._budget_stop_classifies
            and has_escalation_cues(self._ticket)
            and workflow.patched(PATCH_START_STOP_HEEDS_ESCALATION)
        )
        try:
            await self._process()
        except (ActivityError, ChildWorkflowError, asyncio.CancelledError) as err:
            if is_cancelled_exception(err):
                self._reviews.close()
                self._record.move(S.CANCELLED, "operator", "the ticket's workflow was cancelled")
                await self._tell_batch()
                raise asyncio.CancelledError() from None
            # Retries and fallbacks are spent: the ticket fails with a reason, visibly, and the
            # workflow fails too so the Web UI shows it (and an operator can reset it once fixed).
            reason = describe_failure(err)
            self._record.view.failure = reason
            self._record.move(S.FAILED, "workflow", reason)
            await self._tell_batch()
            raise ApplicationError(
                f"ticket {self._ticket.ticket_id} failed: {reason}",
                type="TicketFailed",
                non_retryable=True,
            ) from err
        except ApplicationError as err:
            if err.type != ILLEGAL_TRANSITION or not (
                self._lean or workflow.patched(PATCH_ILLEGAL_TRANSITION_TELLS_BATCH)
            ):
                raise
            # A bug: the workflow fails loudly (the error as it is), and its batch learns that
            # the ticket failed, so its place in the window is freed now.
            self._record.view.failure = err.message
            if not is_terminal(self._record.state):
                self._record.move(S.FAILED, "workflow", err.message)
            await self._tell_batch(S.FAILED)
            raise
        await self._tell_batch()
        # Let an update that arrived with the final decision return its result before closing.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._record.view

    @staticmethod
    def _memo_value(key: str) -> Any:
        """A value the starter put in the memo, or None when it does not decode: a value set
        outside the project must not fail every workflow task (the start event never changes,
        so the answer is the same on every replay)."""
        try:
            return workflow.memo_value(key, None)
        except Exception:
            return None

    async def _tell_batch(self, state: TicketState | None = None) -> None:
        """A ticket started by a batch reports once, the first time it rests (or ``state``):
        that frees its place in the batch's window."""
        batch_id = self._batch_id
        if self._told_batch or batch_id is None:
            return
        self._told_batch = True
        try:
            await workflow.get_external_workflow_handle(batch_id).signal(
                names.TICKET_SETTLED_SIGNAL,
                TicketSettled(ticket_id=self._ticket.ticket_id, state=state or self._record.state),
            )
        except ApplicationError as err:  # the batch is gone: nothing is waiting for us
            workflow.logger.warning("could not tell batch %s: %s", batch_id, err)

    async def _process(self) -> None:
        config = await config_snapshot(
            own_failures_as_activity_errors=True, own_failures_known=self._delivering
        )
        stages = TicketStages(
            self._ticket,
            self._record,
            config,
            self._earlier,
            first_intake=self._first_intake,
            lean=self._lean,
            delivering=self._delivering,
            budget_stop_classifies=self._budget_stop_classifies,
            start_stop_urgent=self._start_stop_urgent,
        )
        reviewer_notes: str | None = None
        try:
            await stages.classify()
            await stages.triage()
            await stages.knowledge()
            self._record.move(S.RESOLVING, AgentRole.RESOLVER, "drafting the first reply")
            findings = await stages.draft_and_validate(reviewer_notes)
            reasons = stages.reasons(findings, rework=False)
        except HandOff as handoff:
            reasons = stages.hand_off(handoff)
        while True:
            if not reasons:
                await self._deliver("policy", "no review needed")
                return
            final_hours = config.review.final_deadline_hours
            decision = await self._reviews.wait(
                reasons, on_waiting=self._tell_batch, final_deadline_hours=final_hours
            )
            if decision is None:
                self._record.move(
                    S.UNANSWERED,
                    "policy",
                    f"nobody reviewed the ticket within {final_hours:g} hours of waiting; "
                    "closed without sending anything",
                )
                return
            reviewer = f"reviewer:{decision.reviewer}"
            if decision.action is ReviewAction.APPROVE:
                await self._deliver(reviewer, "approved")
                return
            if decision.action is ReviewAction.EDIT:
                stages.set_draft(Draft(text=(decision.edited_text or "").strip()), reviewer)
                await self._deliver(reviewer, "edited and approved")
                return
            if decision.action is ReviewAction.REJECT:
                self._record.move(S.REJECTED, reviewer, f"rejected: {decision.reason}")
                return
            reviewer_notes = decision.notes
            self._record.move(S.RESOLVING, reviewer, f"rework requested: {decision.notes}")
            sent_back = self._draft_revision()
            try:
                findings = await stages.draft_and_validate(reviewer_notes)
                reasons = stages.reasons(findings, rework=True)
            except HandOff as handoff:
                reasons = stages.hand_off(handoff)
                if self._draft_revision() == sent_back:
                    # No new draft (the resolver's answers invalid on every route, say): the
                    # draft shown is the one a reviewer sent back, and says so, as when the
                    # rework's call failed: an approval of it from the wait before is refused
                    # (shared/review_operations.py). Data of the wait's upsert, not a command.
                    shown = "the draft shown is the one sent back" if sent_back else "no draft yet"
                    reasons.append(
                        ReviewReason(
                            ReasonCode.REWORK_FAILED, f"the rework made no new draft; {shown}"
                        )
                    )
            except ActivityError as err:
                # Every route of the rework's agent call failed (after the SLA only the least
                # retry window is left: a short rate-limit spell is enough). The ticket goes back
                # to the reviewer with what it has, instead of failing with its draft unsent.
                # Anything else (a knowledge base that fails, a cancellation) is as before.
                if (
                    is_cancelled_exception(err)
                    or err.activity_type not in REWORK_AGENT_ACTIVITIES
                    or not workflow.patched(PATCH_REWORK_FAILURE)
                ):
                    raise
                has_draft = self._record.view.draft is not None
                shown = "the draft shown is the latest one" if has_draft else "no draft yet"
                reasons = [
                    *stages.degraded,
                    ReviewReason(
                        ReasonCode.REWORK_FAILED,
                        f"the rework could not be finished: {describe_failure(err)}; {shown}",
                    ),
                    # The policy's own too, as a hand-off's (data of the wait's upsert).
                    *stages.policy_reasons(),
                ]

    def _draft_revision(self) -> int:
        draft = self._record.view.draft
        return draft.revision if draft is not None else 0

    async def _deliver(self, agent: str, reason: str) -> None:
        await deliver(
            self._record,
            self._ticket,
            agent,
            reason,
            lean=self._lean,
            delivering=self._delivering,
            cancel_waits=self._cancel_waits,
            replaces=self._replaces,
        )

    # ---- human review: thin handlers over the gate -------------------------------------------

    @workflow.signal(name=names.REVIEW_SIGNAL)
    @extra_arguments
    def review(self, payload: Any = ABSENT, *extra: Any) -> None:
        """For reviewers in the Web UI's signal dialog. A signal cannot be refused, so a review
        that does not apply (or does not parse, or is not one argument) is recorded as ignored,
        with why."""
        if (problem := signal_problem(payload, extra)) is not None:
            self._reviews.ignore_unread(f"not a valid review: {problem}")
            return
        self._reviews.offer(payload)

    @workflow.update(name=names.SUBMIT_REVIEW_UPDATE)
    def submit_review(self, decision: ReviewDecision) -> ReviewReceipt:
        """For the CLI and programs: a review that does not apply is refused with a reason."""
        if problem := self._reviews.problem(decision):
            raise ApplicationError(problem, type="ReviewRefused")
        return self._reviews.accept(decision)

    @submit_review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        # Runs before the update is written to history: a refused review leaves no trace.
        if problem := self._reviews.admission_problem(decision):
            raise ValueError(problem)

    @workflow.signal(name=names.ORCHESTRATION_SPENT_SIGNAL)
    @extra_arguments
    def orchestration_spent(self, payload: Any = ABSENT, *extra: Any) -> None:
        """From this ticket's orchestrator run, cancelled: what it had spent, billed when that
        run ends cancelled (workflows/orchestrated_draft.py). One that does not parse, names
        another run, arrives while no run is waited on, or says what no run spends (negative
        counts, thousands of calls) is ignored: anyone who may signal the ticket can send one."""
        if (problem := signal_problem(payload, extra)) is not None:
            workflow.logger.warning("an orchestration_spent signal ignored: %s", problem)
            return
        try:
            spent = OrchestrationSpent.model_validate(payload)
            usage = {AgentRole(role): calls for role, calls in spent.usage.items()}
            problem = spent.problem()
        except ValueError:
            problem = "it does not parse"
        if problem is None and spent.run != orchestration_run_id(workflow.info().workflow_id):
            problem = "it names another run"
        if problem is None and not self._record.orchestration_pending:
            problem = "no orchestrator run is waited on"
        if problem is not None:
            workflow.logger.warning("an orchestration_spent signal ignored: %s", problem)
            return
        self._record.orchestration_spent = {role.value: calls for role, calls in usage.items()}

    # ---- queries ---------------------------------------------------------------------------------

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> TicketView:
        return self._record.view


__all__ = ["TicketWorkflow", "describe_failure"]
