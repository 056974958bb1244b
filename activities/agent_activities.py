"""The agent activities: one LLM (or offline) call each, dispatched to the route's provider."""

from collections.abc import Mapping
from typing import Final

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.agent_specs import (
    CLASSIFIER,
    INSIGHTS,
    PLANNER,
    RESOLVER,
    SYNTHESIZER,
    TRIAGE,
    VALIDATOR,
    WORKER,
)
from activities.agent_telemetry import observed_call
from activities.heartbeat import begin_attempt
from activities.providers.base import AgentSpec, InT, OutT, Provider
from activities.providers.offline.validator import money_promises, policy_findings
from activities.rate_reports import OutcomeReporter
from activities.retry_budget import AttemptBudget
from policy.escalation import escalation_cues
from policy.trimming import DEFAULT_BODY_TOKEN_BUDGET, trim_body
from shared import names
from shared.agents import (
    MAX_CUES,
    RATIONALE_CHARS,
    AgentReply,
    AgentRoute,
    Classification,
    ClassifyRequest,
    Draft,
    DraftRequest,
    Finding,
    FindingCode,
    Priority,
    TriageRequest,
    TriageResult,
    ValidateRequest,
    Validation,
)
from shared.orchestration import (
    Plan,
    PlanRequest,
    Synthesis,
    SynthesisRequest,
    WorkRequest,
    WorkResult,
)
from shared.pipeline_config import OFFLINE_ROUTE
from shared.swarm import InsightRequest, ReviewInsights
from shared.tickets import Ticket


class AgentActivities:
    """Registered on each provider's task queue; the request's route names provider and model."""

    def __init__(
        self,
        providers: Mapping[str, Provider],
        trim_body_tokens: int = DEFAULT_BODY_TOKEN_BUDGET,
        reporters: Mapping[str, OutcomeReporter] | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._trim_body_tokens = trim_body_tokens
        # Providers with an adaptive limit: each call's outcome goes to the queue's controller.
        self._reporters = dict(reporters or {})

    def _provider(self, route: AgentRoute) -> Provider:
        provider = self._providers.get(route.provider)
        if provider is None:
            # A configuration error, not a transient one: retrying on this worker cannot help.
            raise ApplicationError(
                f"provider {route.provider!r} is not configured on this worker "
                f"(configured: {', '.join(sorted(self._providers)) or 'none'})",
                type="ProviderNotConfigured",
                non_retryable=True,
            )
        return provider

    async def _run(self, spec: AgentSpec[InT, OutT], request: InT) -> AgentReply[OutT]:
        route: AgentRoute | None = request.route  # type: ignore[attr-defined]
        if route is None:
            raise ApplicationError(
                f"the {spec.role} request names no provider:model route",
                type="MissingRoute",
                non_retryable=True,
            )
        provider = self._provider(route)
        # Before any task of this attempt starts: heartbeat tasks share what it carries.
        begin_attempt()
        budget = AttemptBudget.of_this_attempt(hands_on=route.hands_on)
        budget.refuse_if_spent()
        # Every ticket agent reads the ticket: trim it once here, for every provider alike.
        removed = 0
        ticket = getattr(request, "ticket", None)
        if ticket is not None:
            trimmed = trim_body(ticket.body, self._trim_body_tokens)
            removed = trimmed.removed_tokens
            request = request.model_copy(
                update={"ticket": ticket.model_copy(update={"body": trimmed.text})}
            )
        model = route.model

        async def call() -> AgentReply[OutT]:
            reply = await provider.run(spec, request, model)
            reply.usage.trimmed_tokens = removed
            return reply

        # One GenAI span and the call's metrics, the same for every provider.
        kind = getattr(getattr(provider, "config", None), "kind", provider.name)
        reporter = self._reporters.get(route.provider)
        try:
            reply = await observed_call(spec, route, kind, request, call)
        except Exception as err:
            if reporter is not None:
                reporter.record(err, provider.declared_rate, activity.info().started_time)
            # Rate limits retry until the call's time bound; other failures only a few times.
            replaced = budget.spend(err)
            if replaced is err:
                raise
            raise replaced from None
        if reporter is not None:
            reporter.record(None, provider.declared_rate)
        return reply

    @activity.defn(name=names.CLASSIFY_TICKET)
    async def classify_ticket(self, request: ClassifyRequest) -> AgentReply[Classification]:
        return await self._run(CLASSIFIER, request)

    @activity.defn(name=names.TRIAGE_TICKET)
    async def triage_ticket(self, request: TriageRequest) -> AgentReply[TriageResult]:
        reply = await self._run(TRIAGE, request)
        # The offline triage applies the rules too, but to the body trimmed for the agents:
        # a cue in what trimming cut (a line after a sign-off, after "--", below a quote
        # marker) reached no person. The floor reads the ticket as it came.
        reply.output = with_escalation(reply.output, request.ticket)
        return reply

    @activity.defn(name=names.DRAFT_RESOLUTION)
    async def draft_resolution(self, request: DraftRequest) -> AgentReply[Draft]:
        return await self._run(RESOLVER, request)

    @activity.defn(name=names.VALIDATE_RESOLUTION)
    async def validate_resolution(self, request: ValidateRequest) -> AgentReply[Validation]:
        reply = await self._run(VALIDATOR, request)
        if reply.usage.provider != OFFLINE_ROUTE.provider:  # the offline rules are these rules
            reply.output = with_policy(reply.output, request)
        reply.output = consistent_verdict(reply.output)
        return reply

    @activity.defn(name=names.PLAN_TASK)
    async def plan_task(self, request: PlanRequest) -> AgentReply[Plan]:
        return await self._run(PLANNER, request)

    @activity.defn(name=names.RUN_SUBTASK)
    async def run_subtask(self, request: WorkRequest) -> AgentReply[WorkResult]:
        return await self._run(WORKER, request)

    @activity.defn(name=names.SYNTHESIZE_RESULTS)
    async def synthesize_results(self, request: SynthesisRequest) -> AgentReply[Synthesis]:
        return await self._run(SYNTHESIZER, request)

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze_item(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        return await self._run(INSIGHTS, request)

    def all(self) -> list[object]:
        return [
            self.classify_ticket,
            self.triage_ticket,
            self.draft_resolution,
            self.validate_resolution,
            self.plan_task,
            self.run_subtask,
            self.synthesize_results,
            self.analyze_item,
        ]


NOT_APPROVED = "the validator did not approve the draft and named no finding"
RAISED_TO_URGENT = "; raised to Urgent by the escalation rules: a person must answer"


def with_escalation(triage: TriageResult, ticket: Ticket) -> TriageResult:
    """A model's triage with the escalation rules' floor (policy/escalation.py: an account
    taken over, a payment the customer did not make, a lawyer or a court): Urgent, so a person
    answers (review_urgent). A model's word was final: one that read "I did not authorise these
    charges, my lawyer will be in touch" as High sent the answer with no person looking. The
    cues go with the others (the rationale says why, in no customer words). Made here, where the
    answer is recorded: a rule in the workflow would change recorded answers on replay."""
    if triage.priority is Priority.URGENT:
        return triage
    cues = escalation_cues(f"{ticket.subject}\n{ticket.body}")
    if not cues:
        return triage
    rationale = triage.rationale[: RATIONALE_CHARS - len(RAISED_TO_URGENT)] + RAISED_TO_URGENT
    return triage.model_copy(
        update={
            "priority": Priority.URGENT,
            "rationale": rationale,
            "cues": [*cues, *triage.cues][:MAX_CUES],
        }
    )


# What the fixed rules add to a model validator's verdict: what no reply may hold, whatever a
# model judged. Not the forbidden promises as a whole: those patterns were written for the
# offline templates and flag wording a model validator rightly approves ("our team will get back
# to you within 24 hours", a refund timeline taken from the cited article); their rate on model
# text is unmeasured, and each would cost a revision round or a person. Only the part that gives
# money away (offline/validator.py MONEY_PROMISES: compensation, free time or credit, an amount
# back, a refund said to be made), which no agent may grant: a model validator approved "I have
# issued a full refund of $480 and added 3 free months as compensation", and it went out.
MODEL_VERDICT_RULES: Final = frozenset({FindingCode.EMPTY, FindingCode.INTERNAL_LEAK})


def with_policy(validation: Validation, request: ValidateRequest) -> Validation:
    """The verdict with what the fixed rules find in the draft (offline/validator.py
    policy_findings: a blank reply, an internal note, the agents' own instructions; and
    money_promises) and the verdict did not name. A model validator's word was final: a draft
    an injected ticket had made repeat the system prompt or quote an internal note, or a blank
    one, went out "approved" by a validator that read the same ticket. Made here, where the
    answer is recorded (as consistent_verdict)."""
    named = {f.code for f in validation.findings}
    found = policy_findings(request.draft, request.articles, min_chars=1)
    added = [f for f in found if f.code in MODEL_VERDICT_RULES and f.code not in named]
    money = money_promises(request.draft.text)
    if money and FindingCode.FORBIDDEN_PROMISE not in named:
        added.append(
            Finding(
                code=FindingCode.FORBIDDEN_PROMISE,
                message=f"the reply gives money away, which only a person may: {money[0][:160]!r}",
            )
        )
    if not added:
        return validation
    return Validation(approved=False, findings=[*validation.findings, *added])


def consistent_verdict(validation: Validation) -> Validation:
    """A verdict whose ``approved`` agrees with its findings. The workflow reads ``approved``
    first (an approved draft's findings are dropped), and a model may answer either mismatch:
    approved with a forbidden promise among its findings went to the customer with no person
    looking, and not approved with none was delivered as approved. Any finding stands; a
    refusal without one is a finding of its own. Made here, where the answer is recorded: a
    rule in the model would change recorded answers on replay, and with them the commands."""
    if validation.findings and validation.approved:
        return Validation(approved=False, findings=validation.findings)
    if not validation.approved and not validation.findings:
        return Validation(
            approved=False, findings=[Finding(code=FindingCode.OTHER, message=NOT_APPROVED)]
        )
    return validation
