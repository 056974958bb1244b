"""The agents' part of a ticket (workflows/ticket.py runs it): classify, triage, the knowledge
base, then draft and validate until the validator approves or its rounds are spent; and the
reasons a person takes over.

Workflow code, called from TicketWorkflow's run in the same order as before it moved here: the
commands and their order are the ticket's (its committed histories replay, tests/replay).
"""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from policy.budget import EarlierSpend
    from policy.escalation import escalation_cues
    from policy.review_policy import ReasonCode, ReviewReason, review_needs
    from policy.sla import sla_deadline
    from policy.transitions import TicketState
    from policy.trimming import search_text
    from shared import names
    from shared.agents import (
        AgentRole,
        Category,
        Classification,
        ClassifyRequest,
        Draft,
        DraftRequest,
        Finding,
        KnowledgeArticle,
        KnowledgeQuery,
        Priority,
        TriageRequest,
        TriageResult,
        ValidateRequest,
        Validation,
    )
    from shared.pipeline_config import PipelineConfig
    from shared.tickets import Ticket
    from shared.view import DraftRecord
    from workflows import options
    from workflows.agent_calls import AgentCaller, HandOff, temporal_priority
    from workflows.local_activities import run_local
    from workflows.orchestrated_draft import orchestrated_draft
    from workflows.review_gate import stop_if_cancelled
    from workflows.ticket_patches import (
        PATCH_BUDGET_STOP_CLASSIFIES,
        PATCH_FALLBACK_HEEDS_ESCALATION,
        PATCH_ORCHESTRATED_RESOLUTION,
        PATCH_REWORK_DRAFTS_WITH_NOTES,
        PATCH_SLA_FROM_INTAKE,
        SLA_FROM_INTAKE_AFTER,
    )
    from workflows.ticket_record import TicketRecord

S = TicketState
# When triage could not say, the SLA and the queue treat the ticket as this.
FALLBACK_PRIORITY = Priority.MEDIUM


def has_escalation_cues(ticket: Ticket) -> bool:
    """Whether the escalation rules (policy/escalation.py) find their cues in the ticket's text:
    the floor a model's triage gets, and a ticket no triage ranked takes."""
    return bool(escalation_cues(f"{ticket.subject}\n{ticket.body}"))


class TicketStages:
    """One run's agent stages over its ticket and record, with the run's configuration snapshot
    and versions (``lean``: the lean-history paths; ``delivering``: the delivering-state
    version's local-activity failures)."""

    def __init__(
        self,
        ticket: Ticket,
        record: TicketRecord,
        config: PipelineConfig,
        earlier: EarlierSpend | None,
        *,
        first_intake: datetime | None = None,
        lean: bool,
        delivering: bool,
        budget_stop_classifies: bool = False,
        start_stop_urgent: bool = False,
    ) -> None:
        self._ticket = ticket
        self._record = record
        self._config = config
        # Its tier's calendar: the SLA of a tier left out of [business_hours] runs around the
        # clock (every snapshot recorded before `tiers` has none: every tier, as before).
        self._calendar = config.calendar_for(ticket.customer_tier)
        self._agents = AgentCaller(record, config, earlier, calendar=self._calendar)
        self._lean = lean
        self._delivering = delivering
        # When the customer first wrote, if an earlier run of the ticket began before this one
        # (the sla-from-first-intake version): the SLA runs from it.
        self._first_intake = first_intake
        # PATCH_BUDGET_STOP_CLASSIFIES already answered yes (asked at the start).
        self._budget_stop_classifies = budget_stop_classifies
        # PATCH_START_STOP_HEEDS_ESCALATION answered yes (asked at the start, for a ticket with
        # earlier runs' spend and the escalation rules' cues).
        self._start_stop_urgent = start_stop_urgent
        self._classification: Classification | None = None
        self._placeholder_class = False  # set by classify
        self._articles: list[KnowledgeArticle] | None = None
        # Problems the agents could not solve (invalid output): each is a reason for review.
        self.degraded: list[ReviewReason] = []

    async def classify(self) -> None:
        view = self._record.view
        stopped: HandOff | None = None  # the budget's hand-off, raised once CLASSIFIED
        try:
            reply = await self._agents.call(
                AgentRole.CLASSIFIER,
                names.CLASSIFY_TICKET,
                ClassifyRequest(ticket=self._ticket),
                Classification,
            )
            classification, model = reply.output, reply.usage.model
        except HandOff as handoff:
            if not handoff.invalid_output:
                # The budget: a person takes over from CLASSIFIED (NEW may only be classified).
                if not (
                    self._budget_stop_classifies or workflow.patched(PATCH_BUDGET_STOP_CLASSIFIES)
                ):
                    raise  # an older run's rule: it failed on NEW -> AWAITING_REVIEW
                stopped = handoff
            else:
                # Carry on with "unknown": the confidence of 0 alone sends it to a person.
                self.degraded.append(handoff.review_reason)
            classification = Classification(
                category=Category.GENERAL,
                confidence=0.0,
                rationale="not classified: the ticket's budget is spent"
                if stopped
                else "classifier gave no valid answer",
            )
            model = None
        self._classification = classification
        # The budget stopped it before any classification: its "general, 0" is a placeholder,
        # whose "low confidence" a hand-off would add beside the budget's reason.
        self._placeholder_class = stopped is not None
        view.category, view.confidence = classification.category, classification.confidence
        self._record.move(
            S.CLASSIFIED,
            AgentRole.CLASSIFIER,
            f"{classification.category} ({classification.confidence:.2f}): "
            f"{classification.rationale}",
            model,
        )
        if stopped is not None:
            raise stopped

    async def triage(self) -> None:
        assert self._classification is not None
        try:
            reply = await self._agents.call(
                AgentRole.TRIAGE,
                names.TRIAGE_TICKET,
                TriageRequest(ticket=self._ticket, classification=self._classification),
                TriageResult,
            )
            self._record.view.complex = reply.output.complex
            priority, rationale, model = (
                reply.output.priority,
                reply.output.rationale,
                reply.usage.model,
            )
        except HandOff as handoff:
            if not handoff.invalid_output:
                raise
            self.degraded.append(handoff.review_reason)
            priority, model = self._fallback_priority(), None
            rationale = f"triage gave no valid answer; treated as {priority}"
        self._set_priority(priority)
        # Lean: the knowledge-base lookup (local) and the move to RESOLVING follow in the same
        # workflow task, which publishes the priority, the SLA deadline and the state at once.
        self._record.move(S.TRIAGED, AgentRole.TRIAGE, rationale, model, publish=not self._lean)

    def _set_priority(self, priority: Priority, *, ask: bool = True) -> None:
        view = self._record.view
        view.priority = priority
        now = workflow.now()
        # The agents' calls may still retry for the SLA's length from now (what they had
        # before the deadline moved to intake: a deadline already past would leave them the
        # least window, and a short rate-limit spell would fail the ticket).
        self._agents.retry_until = sla_deadline(
            priority, now, self._config.sla_hours, self._calendar
        )
        start = now
        came_in = workflow.info().workflow_start_time  # the start event's time
        if self._first_intake is not None and self._first_intake < came_in:
            came_in = self._first_intake
        if now - came_in > SLA_FROM_INTAKE_AFTER and (
            not ask or workflow.patched(PATCH_SLA_FROM_INTAKE)
        ):
            start = came_in
        view.sla_deadline = sla_deadline(priority, start, self._config.sla_hours, self._calendar)

    async def knowledge(self) -> list[KnowledgeArticle]:
        if self._articles is None:
            assert self._classification is not None
            # The body as the agents read it (trim_body: no quoted earlier mail, greeting or
            # signature): searched whole, our own quoted earlier reply about a password reset
            # picked the password article for a missing-invoice ticket, and the draft led with
            # it. Only the local activity's input changes, no command.
            query = KnowledgeQuery(
                category=self._classification.category,
                text=search_text(self._ticket.subject, self._ticket.body),
            )
            summary = f"knowledge base: {self._classification.category}"
            if self._lean:
                # Milliseconds of work on the worker that runs this workflow: as a local
                # activity it costs one marker instead of an activity task's three events and
                # the workflow task its result would start.
                self._articles = await run_local(
                    names.SEARCH_KNOWLEDGE_BASE,
                    query,
                    result_type=list[KnowledgeArticle],
                    start_to_close_timeout=options.KB_START_TO_CLOSE,
                    retry_policy=options.KB_RETRY,
                    summary=summary,
                    own_failures_as_activity_errors=True,
                    own_failures_known=self._delivering,
                )
            else:
                self._articles = await workflow.execute_activity(
                    names.SEARCH_KNOWLEDGE_BASE,
                    query,
                    result_type=list[KnowledgeArticle],
                    start_to_close_timeout=options.KB_START_TO_CLOSE,
                    retry_policy=options.KB_RETRY,
                    summary=summary,
                    priority=temporal_priority(self._record),
                )
        return self._articles

    async def draft_and_validate(self, reviewer_notes: str | None) -> list[Finding]:
        """Draft, validate, and revise until the validator approves or its rounds are spent.
        Returns the findings still open on the final draft. A reviewer's rework is their call
        to spend more: it is not stopped by the budget."""
        assert self._classification is not None and self._record.view.priority is not None
        articles = await self.knowledge()
        view = self._record.view
        check_budget = reviewer_notes is None
        # A reviewer's rework starts from the validator's findings on the draft they reviewed,
        # beside their notes: the resolver saw the notes alone, and a finding the reviewer left
        # to it came back in the next validation, another round or review. Data only, no command.
        findings: list[Finding] = list(view.findings) if reviewer_notes is not None else []
        rounds = 0
        while True:
            revision = (view.draft.revision if view.draft else 0) + 1
            drafted: tuple[Draft, str] | None = None
            if revision == 1 and self._orchestrate(reworked=reviewer_notes is not None):
                drafted = await orchestrated_draft(
                    self._ticket, self._record, articles, self._config, self._agents
                )
                # A cancel the run absorbed (it completed anyway) stops the ticket here, before
                # more agent calls (absorbed-cancel-stops).
                stop_if_cancelled()
            if drafted is None:
                reply = await self._agents.call(
                    AgentRole.RESOLVER,
                    names.DRAFT_RESOLUTION,
                    DraftRequest(
                        ticket=self._ticket,
                        classification=self._classification,
                        priority=view.priority,
                        articles=articles,
                        revision=revision,
                        findings=findings,
                        reviewer_notes=reviewer_notes,
                        previous_draft=view.draft.text if view.draft else None,
                    ),
                    Draft,
                    check_budget=check_budget,
                )
                drafted = (reply.output, reply.usage.model)
            draft, author = drafted
            self.set_draft(draft, author)
            self._record.move(S.RESOLVED, AgentRole.RESOLVER, f"draft revision {revision}", author)
            check = await self._agents.call(
                AgentRole.VALIDATOR,
                names.VALIDATE_RESOLUTION,
                ValidateRequest(
                    ticket=self._ticket,
                    classification=self._classification,
                    draft=draft,
                    articles=articles,
                ),
                Validation,
                check_budget=check_budget,
            )
            validation = check.output
            findings = [] if validation.approved else validation.findings
            view.findings = findings
            if not findings:
                # Lean: what follows (a wait for review, a delivery) publishes the state.
                self._record.move(
                    S.VALIDATED,
                    AgentRole.VALIDATOR,
                    "approved",
                    check.usage.model,
                    publish=not self._lean,
                )
                return []
            summary = "; ".join(f"{f.code}: {f.message}" for f in findings)
            if rounds >= self._config.max_revision_rounds:
                self._record.move(
                    S.VALIDATED,
                    AgentRole.VALIDATOR,
                    f"findings remain after {rounds} revision round(s): {summary}",
                    check.usage.model,
                    publish=not self._lean,
                )
                return findings
            rounds += 1
            view.revision_rounds = rounds
            self._record.move(
                S.RESOLVING,
                AgentRole.VALIDATOR,
                f"revision {rounds} of {self._config.max_revision_rounds} requested: {summary}",
                check.usage.model,
            )

    def _orchestrate(self, *, reworked: bool) -> bool:
        # patched() is asked only for complex tickets, so no other ticket's history changes.
        return (
            self._record.view.complex
            and self._config.orchestration.orchestrate_complex_tickets
            and (self._lean or workflow.patched(PATCH_ORCHESTRATED_RESOLUTION))
            and not (reworked and workflow.patched(PATCH_REWORK_DRAFTS_WITH_NOTES))
        )

    def reasons(self, findings: list[Finding], *, rework: bool) -> list[ReviewReason]:
        assert self._classification is not None and self._record.view.priority is not None
        needs = review_needs(
            self._config.review,
            category=self._classification.category,
            confidence=self._classification.confidence,
            priority=self._record.view.priority,
            validator_findings=findings,
            revision_rounds=self._record.view.revision_rounds,
            rework_requested=rework,
        )
        if self._placeholder_class:
            # Never classified (the budget stopped it first; only a reviewer's rework drafts it,
            # so the list is never empty here): its "general, 0" is no classifier's confidence.
            # Data of the wait's upsert, not a command.
            needs = [r for r in needs if r.code is not ReasonCode.LOW_CONFIDENCE]
        return self.degraded + needs

    def hand_off(self, handoff: HandOff) -> list[ReviewReason]:
        """The agents stopped; make sure the ticket has what a review needs (a priority, an SLA
        deadline) and say why a person takes over."""
        if self._record.view.priority is None:
            # Stopped by the budget before this run's first call: still in the workflow task of
            # the configuration snapshot's local activity, where a patch marker does not replay
            # (a first task that started late was completed at the local activity's marker, the
            # patch's went in the next task: TMPRL1100 on every replay). Tickets of the
            # budget-stop-classifies version were started by code that knows sla-from-intake:
            # taken without asking. Its escalation floor's patch was asked at the run's start.
            at_start = self._budget_stop_classifies and self._agents.calls_begun == 0
            if at_start:
                priority = Priority.URGENT if self._start_stop_urgent else FALLBACK_PRIORITY
            else:
                priority = self._fallback_priority()
            self._set_priority(priority, ask=not at_start)
        return [*self.degraded, handoff.review_reason, *self.policy_reasons()]

    def policy_reasons(self) -> list[ReviewReason]:
        """The policy's own reasons beside a hand-off's (an Urgent ticket, a sensitive category,
        findings still open): a team's view of TicketReviewReasons = 'urgent' missed a
        hand-off's. Data of the upsert the wait makes anyway, not a command."""
        view = self._record.view
        reasons: list[ReviewReason] = []
        if self._classification is not None and view.priority is not None:
            needs = review_needs(
                self._config.review,
                category=self._classification.category,
                confidence=self._classification.confidence,
                priority=view.priority,
                validator_findings=view.findings,
                revision_rounds=view.revision_rounds,
                rework_requested=False,
            )
            if self._placeholder_class:
                # Stopped before any classification: its "general, 0" would say low confidence.
                # Only an Urgent is said, which only the escalation rules gave it (at a start
                # stop, or as the fallback priority of a stop after a failed first route: that
                # one was left out, and TicketReviewReasons = 'urgent' missed the ticket).
                urgent = self._start_stop_urgent or view.priority is Priority.URGENT
                keep = {ReasonCode.URGENT} if urgent else set()
                needs = [r for r in needs if r.code in keep]
            reasons += needs
        return reasons

    def _fallback_priority(self) -> Priority:
        """The priority of a ticket no triage ranked: Medium, or Urgent where the escalation
        rules' cues are in its text (PATCH_FALLBACK_HEEDS_ESCALATION), as a model's triage is
        floored. Not in the workflow task of a local activity's marker (the caller's rule)."""
        if has_escalation_cues(self._ticket) and workflow.patched(PATCH_FALLBACK_HEEDS_ESCALATION):
            return Priority.URGENT
        return FALLBACK_PRIORITY

    def set_draft(self, draft: Draft, author: str) -> None:
        view = self._record.view
        revision = (view.draft.revision if view.draft else 0) + 1
        view.draft = DraftRecord(
            revision=revision, text=draft.text, author=author, cited_articles=draft.cited_articles
        )
        # The validator's findings were about the draft before: a new one has none until it is
        # validated (a budget stop before its validation showed the old ones beside it). Data
        # only, no command.
        view.findings = []
