"""Fake activities for workflow tests, registered under the real activity names.

They let a test decide what each agent answers (and when), so the test is about the workflow's
sequencing, state and handlers, not about the offline rules.
"""

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from shared import names
from shared.agents import (
    AgentReply,
    AgentRole,
    AgentRoute,
    Category,
    Classification,
    ClassifyRequest,
    Draft,
    DraftRequest,
    Finding,
    FindingCode,
    KnowledgeArticle,
    KnowledgeQuery,
    Priority,
    TriageRequest,
    TriageResult,
    Usage,
    ValidateRequest,
    Validation,
)
from shared.business_hours_zone import snapshot
from shared.delivery import text_sha256
from shared.pipeline_config import PipelineConfig
from shared.view import DeliveryReceipt, DeliveryRequest

ARTICLE = KnowledgeArticle(
    article_id="KB-T1", title="Test article", category=Category.ACCOUNT, answer="Do the thing."
)


def invalid_output(role: str = "resolver", tokens: int = 40) -> ApplicationError:
    """What an LLM provider raises when the output stayed invalid after the repair round."""
    spent = Usage(provider="fake", model="fake-model", input_tokens=tokens, output_tokens=tokens)
    return ApplicationError(
        f"fake:fake-model answered the {role} agent with output that does not match",
        spent.model_dump(mode="json"),
        type=names.INVALID_OUTPUT_ERROR,
        non_retryable=True,
    )


def usage(request: object, tokens: int = 10) -> Usage:
    route = getattr(request, "route", None)
    return Usage(
        provider=route.provider if route else "fake",
        model=route.model if route else "fake-model",
        input_tokens=tokens,
        output_tokens=tokens // 2,
        cost_usd=0.001,
    )


def rejection(message: str = "needs work") -> Validation:
    return Validation(approved=False, findings=[Finding(code=FindingCode.OTHER, message=message)])


@dataclass
class FakeAgents:
    """Scripted agents. ``validations`` are returned in order (then approval forever)."""

    category: Category = Category.ACCOUNT
    confidence: float = 0.95
    priority: Priority = Priority.MEDIUM
    complex: bool = False  # triage's verdict: True sends the first draft to an orchestrator run
    validations: list[Validation] = field(default_factory=list)
    classify_failures: list[BaseException] = field(default_factory=list)
    triage_failures: list[BaseException] = field(default_factory=list)
    draft_failures: list[BaseException] = field(default_factory=list)
    # When set, the resolver waits for it: lets a test act while the ticket is RESOLVING.
    resolver_gate: asyncio.Event | None = None
    resolver_entered: asyncio.Event = field(default_factory=asyncio.Event)
    calls: dict[str, list[object]] = field(default_factory=dict)
    classify_attempts: int = 0

    def _record(self, name: str, request: object) -> None:
        self.calls.setdefault(name, []).append(request)

    @activity.defn(name=names.CLASSIFY_TICKET)
    async def classify(self, request: ClassifyRequest) -> AgentReply[Classification]:
        self.classify_attempts += 1
        self._record("classify", request)
        if self.classify_failures:
            raise self.classify_failures.pop(0)
        output = Classification(
            category=self.category, confidence=self.confidence, rationale="fake"
        )
        return AgentReply[Classification](output=output, usage=usage(request))

    @activity.defn(name=names.TRIAGE_TICKET)
    async def triage(self, request: TriageRequest) -> AgentReply[TriageResult]:
        self._record("triage", request)
        if self.triage_failures:
            raise self.triage_failures.pop(0)
        output = TriageResult(
            priority=self.priority, rationale=f"fake {self.priority}", complex=self.complex
        )
        return AgentReply[TriageResult](output=output, usage=usage(request))

    @activity.defn(name=names.DRAFT_RESOLUTION)
    async def draft(self, request: DraftRequest) -> AgentReply[Draft]:
        self._record("draft", request)
        self.resolver_entered.set()
        if self.draft_failures:
            raise self.draft_failures.pop(0)
        if self.resolver_gate is not None:
            await self.resolver_gate.wait()
        text = f"Reply to {request.ticket.ticket_id}, revision {request.revision}."
        if request.reviewer_notes:
            text += f" Reviewer said: {request.reviewer_notes}"
        output = Draft(text=text, cited_articles=[a.article_id for a in request.articles])
        return AgentReply[Draft](output=output, usage=usage(request, tokens=100))

    @activity.defn(name=names.VALIDATE_RESOLUTION)
    async def validate(self, request: ValidateRequest) -> AgentReply[Validation]:
        self._record("validate", request)
        output = self.validations.pop(0) if self.validations else Validation(approved=True)
        return AgentReply[Validation](output=output, usage=usage(request))

    def activities(self) -> list[object]:
        return [self.classify, self.triage, self.draft, self.validate]


def fake_routes_config(**fields: object) -> PipelineConfig:
    """A configuration whose agents all route to a provider name unique to one test, so its
    agent activities go to a task queue no other test's worker polls."""
    route = AgentRoute(provider=f"fake{uuid.uuid4().hex[:8]}", model="fake-model")
    return PipelineConfig(routes={role: [route] for role in AgentRole}, **fields)  # type: ignore[arg-type]


def _receipt(request: DeliveryRequest, revision: int, text: str, already: bool) -> DeliveryReceipt:
    """The fake ledger's receipt for the ticket of ``request``: ``revision`` and ``text`` held."""
    return DeliveryReceipt(
        ticket_id=request.ticket_id,
        channel=request.channel,
        location=f"fake-ledger#{request.ticket_id}",
        delivered_at=datetime.now(UTC),
        revision=revision,
        already_delivered=already,
        text_sha256=text_sha256(text),
    )


@dataclass
class FakeTicketServices:
    """Configuration snapshot, knowledge base and an in-memory ledger keyed by ticket id."""

    config: PipelineConfig = field(default_factory=fake_routes_config)
    articles: list[KnowledgeArticle] = field(default_factory=lambda: [ARTICLE])
    deliveries: list[DeliveryRequest] = field(default_factory=list)
    # When set, delivery waits for it: lets a test act while the answer is being delivered.
    deliver_gate: asyncio.Event | None = None
    deliver_entered: asyncio.Event = field(default_factory=asyncio.Event)
    # Pretend the ledger already held this revision and text for every ticket (as after a reset).
    ledger_holds: tuple[int, str] | None = None
    # Raised by delivery (each failure once, in order), e.g. a permanent refusal.
    deliver_failures: list[BaseException] = field(default_factory=list)
    # Raised by the local first attempt (each once, in order) before it delivers.
    deliver_now_failures: list[BaseException] = field(default_factory=list)

    @property
    def agent_queue(self) -> str:
        return names.llm_task_queue(self.config.routes[AgentRole.CLASSIFIER][0].provider)

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_config(self) -> PipelineConfig:
        # As the real snapshot: business hours with the zone's offsets written in.
        return snapshot(self.config, datetime.now(UTC))

    @activity.defn(name=names.SEARCH_KNOWLEDGE_BASE)
    async def search(self, query: KnowledgeQuery) -> list[KnowledgeArticle]:
        return self.articles

    @activity.defn(name=names.DELIVER_RESPONSE)
    async def deliver(self, request: DeliveryRequest) -> DeliveryReceipt:
        self.deliver_entered.set()
        if self.deliver_gate is not None:
            await self.deliver_gate.wait()
        if self.deliver_failures:
            raise self.deliver_failures.pop(0)
        if self.ledger_holds is not None:
            revision, text = self.ledger_holds
            return _receipt(request, revision, text, True)
        already = any(d.ticket_id == request.ticket_id for d in self.deliveries)
        if not already:
            self.deliveries.append(request)
        return _receipt(request, request.revision, request.text, already)

    @activity.defn(name=names.DELIVER_RESPONSE_NOW)
    async def deliver_now(self, request: DeliveryRequest) -> DeliveryReceipt:
        """The local first attempt. A test that scripts delivery (a gate, failures) gets it on
        the delivery queue, where it can act while the delivery runs: this one says busy."""
        if self.deliver_now_failures:
            raise self.deliver_now_failures.pop(0)
        if self.deliver_gate is not None or self.deliver_failures:
            raise ApplicationError(
                "the fake's local delivery defers to the queue",
                type=names.DELIVERY_BUSY_ERROR,
                non_retryable=True,
            )
        return await self.deliver(request)

    @activity.defn(name=names.FIND_SENT_DELIVERY)
    async def find_sent(self, request: DeliveryRequest) -> DeliveryReceipt | None:
        """The fake ledger's receipt of an answer it took for this ticket, or None."""
        sent = next((d for d in self.deliveries if d.ticket_id == request.ticket_id), None)
        return None if sent is None else _receipt(sent, sent.revision, sent.text, False)

    def activities(self) -> list[object]:
        return [self.load_config, self.search, self.deliver, self.deliver_now, self.find_sent]
