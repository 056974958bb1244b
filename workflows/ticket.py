"""TicketWorkflow: one durable workflow per ticket, from intake to exactly-once delivery.

classify -> triage -> (draft -> validate)* -> [human review] -> deliver

The workflow sequences agents and owns the ticket's state; agents are activities that get inputs
and return outputs, so no two agents ever race on a ticket. Rules (transitions, review policy, SLA)
live in ``policy`` and are only called from here.
"""

from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import Priority as TemporalPriority
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from policy.priority import priority_key
    from policy.review_policy import review_reasons
    from policy.sla import sla_deadline, time_left
    from policy.transitions import TicketState
    from shared import names
    from shared.agents import (
        AgentReply,
        AgentRole,
        Classification,
        ClassifyRequest,
        Draft,
        DraftRequest,
        Finding,
        KnowledgeArticle,
        KnowledgeQuery,
        TriageRequest,
        TriageResult,
        ValidateRequest,
        Validation,
    )
    from shared.pipeline_config import PipelineConfig
    from shared.review import ReviewAction, ReviewDecision, ReviewReceipt, ReviewRecord
    from shared.view import DeliveryReceipt, DeliveryRequest, DraftRecord, TicketRequest, TicketView
    from workflows import options
    from workflows.ticket_record import TicketRecord

S = TicketState
OutT = TypeVar("OutT", bound=BaseModel)


def describe_failure(err: BaseException) -> str:
    """One sentence a person can act on, from an activity failure chain."""
    if isinstance(err, ActivityError):
        cause = err.cause
        what = err.activity_type or "an activity"
        if isinstance(cause, ApplicationError):
            return f"{what} failed: {cause.type or 'error'}: {cause.message}"
        if isinstance(cause, TemporalTimeoutError):
            return f"{what} timed out ({cause.type.name.lower() if cause.type else 'timeout'})"
        if cause is not None:
            return f"{what} failed: {cause}"
        return f"{what} failed: {err.message}"
    return str(err)


@workflow.defn(name=names.TICKET_WORKFLOW)
class TicketWorkflow:
    @workflow.init
    def __init__(self, request: TicketRequest) -> None:
        self._ticket = request.ticket
        self._record = TicketRecord(request.ticket)
        self._config = PipelineConfig()
        self._classification: Classification | None = None
        self._articles: list[KnowledgeArticle] = []
        self._pending_review: ReviewDecision | None = None

    # ---- the lifecycle ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: TicketRequest) -> TicketView:
        self._record.start()
        try:
            await self._process()
        except ActivityError as err:
            # Retries and fallbacks are spent: the ticket fails with a reason, visibly, and the
            # workflow fails too so the Web UI shows it (and an operator can reset it once fixed).
            reason = describe_failure(err)
            self._record.view.failure = reason
            self._record.move(S.FAILED, "workflow", reason)
            raise ApplicationError(
                f"ticket {self._ticket.ticket_id} failed: {reason}",
                type="TicketFailed",
                non_retryable=True,
            ) from err
        # Let an update that arrived with the final decision return its result before closing.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._record.view

    async def _process(self) -> None:
        self._config = await workflow.execute_local_activity(
            names.LOAD_PIPELINE_CONFIG,
            result_type=PipelineConfig,
            start_to_close_timeout=options.CONFIG_START_TO_CLOSE,
            retry_policy=options.CONFIG_RETRY,
            summary="configuration snapshot",
        )
        view = self._record.view

        reply = await self._agent(
            AgentRole.CLASSIFIER,
            names.CLASSIFY_TICKET,
            ClassifyRequest(ticket=self._ticket),
            Classification,
        )
        classification = self._classification = reply.output
        view.category, view.confidence = classification.category, classification.confidence
        self._record.move(
            S.CLASSIFIED,
            AgentRole.CLASSIFIER,
            f"{classification.category} ({classification.confidence:.2f}): "
            f"{classification.rationale}",
            reply.usage.model,
        )

        triage = await self._agent(
            AgentRole.TRIAGE,
            names.TRIAGE_TICKET,
            TriageRequest(ticket=self._ticket, classification=classification),
            TriageResult,
        )
        view.priority = triage.output.priority
        view.sla_deadline = sla_deadline(view.priority, workflow.now(), self._config.sla_hours)
        self._record.move(S.TRIAGED, AgentRole.TRIAGE, triage.output.rationale, triage.usage.model)

        self._articles = await workflow.execute_activity(
            names.SEARCH_KNOWLEDGE_BASE,
            KnowledgeQuery(
                category=classification.category,
                text=f"{self._ticket.subject}\n{self._ticket.body}",
            ),
            result_type=list[KnowledgeArticle],
            start_to_close_timeout=options.KB_START_TO_CLOSE,
            retry_policy=options.KB_RETRY,
            summary=f"knowledge base: {classification.category}",
            priority=self._temporal_priority(),
        )

        self._record.move(S.RESOLVING, AgentRole.RESOLVER, "drafting the first reply")
        reviewer_notes: str | None = None
        while True:
            findings = await self._draft_and_validate(reviewer_notes)
            reasons = review_reasons(
                self._config.review,
                category=classification.category,
                confidence=classification.confidence,
                priority=view.priority,
                validator_findings=findings,
                revision_rounds=view.revision_rounds,
                rework_requested=reviewer_notes is not None,
            )
            if not reasons:
                await self._deliver("policy", "no review needed")
                return
            decision = await self._await_review(reasons)
            reviewer = f"reviewer:{decision.reviewer}"
            if decision.action is ReviewAction.APPROVE:
                await self._deliver(reviewer, "approved")
                return
            if decision.action is ReviewAction.EDIT:
                self._set_draft(Draft(text=(decision.edited_text or "").strip()), reviewer)
                await self._deliver(reviewer, "edited and approved")
                return
            if decision.action is ReviewAction.REJECT:
                self._record.move(S.REJECTED, reviewer, f"rejected: {decision.reason}")
                return
            reviewer_notes = decision.notes
            self._record.move(S.RESOLVING, reviewer, f"rework requested: {decision.notes}")

    async def _draft_and_validate(self, reviewer_notes: str | None) -> list[Finding]:
        """Draft, validate, and revise until the validator approves or its rounds are spent.
        Returns the findings still open on the final draft."""
        assert self._classification is not None
        view = self._record.view
        findings: list[Finding] = []
        rounds = 0
        while True:
            revision = (view.draft.revision if view.draft else 0) + 1
            previous = view.draft.text if view.draft else None
            reply = await self._agent(
                AgentRole.RESOLVER,
                names.DRAFT_RESOLUTION,
                DraftRequest(
                    ticket=self._ticket,
                    classification=self._classification,
                    priority=view.priority,
                    articles=self._articles,
                    revision=revision,
                    findings=findings,
                    reviewer_notes=reviewer_notes,
                    previous_draft=previous,
                ),
                Draft,
            )
            self._set_draft(reply.output, reply.usage.model)
            self._record.move(
                S.RESOLVED, AgentRole.RESOLVER, f"draft revision {revision}", reply.usage.model
            )
            check = await self._agent(
                AgentRole.VALIDATOR,
                names.VALIDATE_RESOLUTION,
                ValidateRequest(
                    ticket=self._ticket,
                    classification=self._classification,
                    draft=reply.output,
                    articles=self._articles,
                ),
                Validation,
            )
            validation = check.output
            findings = [] if validation.approved else validation.findings
            view.findings = findings
            if not findings:
                self._record.move(S.VALIDATED, AgentRole.VALIDATOR, "approved", check.usage.model)
                return []
            summary = "; ".join(f"{f.code}: {f.message}" for f in findings)
            if rounds >= self._config.max_revision_rounds:
                self._record.move(
                    S.VALIDATED,
                    AgentRole.VALIDATOR,
                    f"findings remain after {rounds} revision round(s): {summary}",
                    check.usage.model,
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

    def _set_draft(self, draft: Draft, author: str) -> None:
        view = self._record.view
        revision = (view.draft.revision if view.draft else 0) + 1
        view.draft = DraftRecord(
            revision=revision, text=draft.text, author=author, cited_articles=draft.cited_articles
        )

    async def _deliver(self, agent: str, reason: str) -> None:
        view = self._record.view
        assert view.draft is not None
        receipt = await workflow.execute_activity(
            names.DELIVER_RESPONSE,
            DeliveryRequest(
                ticket_id=self._ticket.ticket_id,
                channel=self._ticket.channel,
                customer_id=self._ticket.customer_id,
                revision=view.draft.revision,
                text=view.draft.text,
            ),
            result_type=DeliveryReceipt,
            start_to_close_timeout=options.DELIVERY_START_TO_CLOSE,
            retry_policy=options.DELIVERY_RETRY,
            summary=f"deliver revision {view.draft.revision} via {self._ticket.channel}",
            priority=self._temporal_priority(),
        )
        view.delivery = receipt
        self._record.move(S.COMPLETED, agent, f"{reason}; delivered to {receipt.location}")

    # ---- agents ----------------------------------------------------------------------------------

    async def _agent(
        self,
        role: AgentRole,
        activity: str,
        request: BaseModel,
        output_type: type[OutT],
    ) -> AgentReply[OutT]:
        """Call an agent on its first route; on a final failure, try the next route in its chain."""
        chain = self._config.routes[role]
        for attempt, route in enumerate(chain, start=1):
            try:
                reply: AgentReply[OutT] = await workflow.execute_activity(
                    activity,
                    request.model_copy(update={"route": route}),
                    task_queue=names.llm_task_queue(route.provider),
                    result_type=AgentReply[output_type],  # type: ignore[valid-type]
                    start_to_close_timeout=options.AGENT_START_TO_CLOSE,
                    heartbeat_timeout=options.AGENT_HEARTBEAT,
                    retry_policy=options.AGENT_RETRY,
                    summary=f"{role} · {route.provider}:{route.model}",
                    priority=self._temporal_priority(),
                )
            except ActivityError as err:
                if attempt == len(chain):
                    raise
                workflow.logger.warning(
                    "%s on %s:%s failed (%s); falling back",
                    role,
                    route.provider,
                    route.model,
                    describe_failure(err),
                )
                continue
            self._record.add_usage(role, reply.usage)
            return reply
        raise AssertionError("unreachable: every route chain has at least one route")

    def _temporal_priority(self) -> TemporalPriority:
        key = priority_key(self._record.view.priority)
        return TemporalPriority(priority_key=key) if key else TemporalPriority.default

    # ---- human review ----------------------------------------------------------------------------

    async def _await_review(self, reasons: list[str]) -> ReviewDecision:
        view = self._record.view
        view.review_reasons = reasons
        self._record.move(S.AWAITING_REVIEW, "policy", "; ".join(reasons))
        if not view.escalated and view.sla_deadline is not None:
            left = time_left(view.sla_deadline, workflow.now())
            try:
                if not left:
                    raise TimeoutError
                await workflow.wait_condition(
                    lambda: self._pending_review is not None,
                    timeout=left,
                    timeout_summary="review SLA deadline",
                )
            except TimeoutError:
                # Nobody decided in time: make it loud (status, search attribute) and keep waiting.
                self._record.escalate()
        await workflow.wait_condition(lambda: self._pending_review is not None)
        decision, self._pending_review = self._pending_review, None
        assert decision is not None
        return decision

    def _review_problem(self, decision: ReviewDecision) -> str | None:
        view = self._record.view
        if view.state is not S.AWAITING_REVIEW:
            return f"ticket {view.ticket_id} is {view.state}, not awaiting review"
        if self._pending_review is not None:
            return f"ticket {view.ticket_id} already has a review being applied"
        current = view.draft.revision if view.draft else None
        if decision.revision is not None and decision.revision != current:
            return (
                f"this review is for draft revision {decision.revision}, but ticket "
                f"{view.ticket_id} is at revision {current}; look at the current draft and "
                "review again"
            )
        return None

    def _accept_review(self, decision: ReviewDecision) -> ReviewReceipt:
        view = self._record.view
        self._pending_review = decision
        view.reviews.append(ReviewRecord(decision=decision, at=workflow.now(), applied=True))
        return ReviewReceipt(
            ticket_id=view.ticket_id,
            action=decision.action,
            revision=view.draft.revision if view.draft else 0,
            accepted_at=workflow.now(),
        )

    @workflow.signal(name=names.REVIEW_SIGNAL)
    def review(self, decision: ReviewDecision) -> None:
        """For reviewers in the Web UI's signal dialog. A signal cannot be refused, so a review
        that does not apply is recorded as ignored (with why) instead of applied."""
        if problem := self._review_problem(decision):
            self._record.view.reviews.append(
                ReviewRecord(decision=decision, at=workflow.now(), applied=False, note=problem)
            )
            workflow.logger.warning("review signal ignored: %s", problem)
            return
        self._accept_review(decision)

    @workflow.update(name=names.SUBMIT_REVIEW_UPDATE)
    def submit_review(self, decision: ReviewDecision) -> ReviewReceipt:
        """For the CLI and programs: a review that does not apply is refused with a reason."""
        if problem := self._review_problem(decision):
            raise ApplicationError(problem, type="ReviewRefused")
        return self._accept_review(decision)

    @submit_review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        # Runs before the update is written to history: a refused review leaves no trace.
        if problem := self._review_problem(decision):
            raise ValueError(problem)

    # ---- queries ---------------------------------------------------------------------------------

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> TicketView:
        return self._record.view


__all__ = ["TicketWorkflow", "describe_failure"]
