"""The ticket workflow's input, its queryable view, and its result."""

from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from policy.transitions import TicketState
from shared.agents import Category, Finding, Priority, Usage
from shared.review import ReviewRecord
from shared.tickets import Ticket, without_nul

# A batch's workflow id is a workflow id: Temporal's limit on one, in UTF-8 bytes.
MAX_BATCH_ID_BYTES = 1000


class TicketRequest(BaseModel):
    """The workflow's input: a model, so fields can be added compatibly."""

    ticket: Ticket
    # The batch workflow that started this ticket: told (by signal) when the ticket first rests.
    batch_id: str | None = None

    @field_validator("batch_id")
    @classmethod
    def _a_workflow_id(cls, value: str | None) -> str | None:
        # The signal to it is a command the server refuses for an empty or over-long id: the
        # ticket failed that workflow task for good at its first rest (its answer already sent,
        # or its review never listed), where a bad input fails the ticket once, saying why.
        if value is not None and not 0 < len(value.encode(errors="replace")) <= MAX_BATCH_ID_BYTES:
            raise ValueError(f"a batch's workflow id is 1 to {MAX_BATCH_ID_BYTES:,} bytes")
        return value


class Transition(BaseModel):
    from_state: TicketState | None
    to_state: TicketState
    at: datetime
    agent: str
    reason: str
    model: str | None = None  # the model that answered, for agent-driven transitions


class DraftRecord(BaseModel):
    revision: int
    text: str
    author: str  # the model that wrote it, or "reviewer:<name>"
    cited_articles: list[str] = Field(default_factory=list)


class AgentUsageTotals(BaseModel):
    calls: int = 0
    requests: int = 0  # model requests (a repair round makes two for one call)
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    # Of input + output, the tokens that were estimated (characters / 4, policy.text_budget)
    # rather than counted by a model's tokenizer: every offline call's.
    estimated_tokens: int = 0
    trimmed_tokens: int = 0  # always an estimate (characters / 4)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    models: list[str] = Field(default_factory=list)

    def add(self, usage: Usage) -> None:
        self.calls += 1
        self.requests += usage.requests
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cached_tokens += usage.cached_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        if usage.tokens_estimated:
            self.estimated_tokens += usage.input_tokens + usage.output_tokens
        self.trimmed_tokens += usage.trimmed_tokens
        self.cost_usd += usage.cost_usd
        self.latency_ms += usage.latency_ms
        if usage.model not in self.models:
            self.models.append(usage.model)


class Fallback(BaseModel):
    """An agent's route that failed for good, and what the workflow did next."""

    role: str
    failed: str  # provider:model
    error: str
    next: str | None  # the route tried next, or None when the chain was spent
    at: datetime


class DeliveryReceipt(BaseModel):
    ticket_id: str
    channel: str  # the ticket's channel
    location: str  # where the answer is recorded, e.g. "ledger:/path/outbox.sqlite3#T-1001"
    delivered_at: datetime  # when the ledger recorded the decision
    revision: int  # the revision the ledger holds for this ticket
    # True when a retried, replayed or reset delivery found the answer already sent.
    already_delivered: bool = False
    # SHA-256 of the text the ledger holds (what the customer gets): the workflow compares it with
    # its own draft, since a reset ticket's revision 1 may be another text than the first run's.
    text_sha256: str | None = None
    idempotency_key: str | None = None
    sent_via: str | None = None  # ledger, webhook or email
    sent_to: str | None = None  # the webhook's address or the e-mail recipient
    sent_at: datetime | None = None


class TicketView(BaseModel):
    """Everything the ``status`` query returns."""

    ticket_id: str
    subject: str
    state: TicketState
    category: Category | None = None
    confidence: float | None = None
    priority: Priority | None = None
    sla_deadline: datetime | None = None
    escalated: bool = False
    escalated_at: datetime | None = None
    # While waiting for review: when the ticket closes as UNANSWERED if nobody decides.
    review_closes_at: datetime | None = None
    complex: bool = False  # triage's call: resolved by an orchestrator run when configured
    # Which ticket under this id this is: its workflow's first run id (kept through resets). A
    # ticket that failed may be submitted again under its id; a review names the chain it was
    # made for, so a page left open on the first is never applied to the second's draft.
    chain: str | None = None
    orchestration: str | None = None  # the orchestrator child workflow that drafted the reply
    draft: DraftRecord | None = None
    findings: list[Finding] = Field(default_factory=list)
    revision_rounds: int = 0
    # Input fields this worker's version does not know, left out (a newer starter's: a rolling
    # deploy); dotted paths, never values.
    ignored_input_fields: list[str] = Field(default_factory=list)
    review_reasons: list[str] = Field(default_factory=list)
    # The codes of review_reasons (policy/review_policy.py REASON_CODES), each once: what the
    # ticket's TicketReviewReasons search attribute says while it waits.
    review_reason_codes: list[str] = Field(default_factory=list)
    reviews: list[ReviewRecord] = Field(default_factory=list)
    # Ignored review signals beyond the ones kept in ``reviews`` (only counted: a sender cannot
    # grow the ticket without bound).
    ignored_reviews_dropped: int = 0
    transitions: list[Transition] = Field(default_factory=list)
    usage: dict[str, AgentUsageTotals] = Field(default_factory=dict)
    fallbacks: list[Fallback] = Field(default_factory=list)
    delivery: DeliveryReceipt | None = None
    failure: str | None = None
    # The trace of the ticket's automatic processing (hex W3C ids of the workflow's span), so a
    # review days later can link to it (shared.telemetry.linked_span). None when not traced.
    trace_id: str | None = None
    trace_span_id: str | None = None

    @property
    def total_cost_usd(self) -> float:
        return sum(u.cost_usd for u in self.usage.values())

    @property
    def total_tokens(self) -> int:
        return sum(u.input_tokens + u.output_tokens for u in self.usage.values())

    @property
    def trimmed_tokens(self) -> int:
        return sum(u.trimmed_tokens for u in self.usage.values())

    @property
    def estimated_tokens(self) -> int:
        return sum(u.estimated_tokens for u in self.usage.values())

    def review_wait_began(self) -> datetime | None:
        """When the ticket's last wait for review began (each rework that comes back begins
        another, with or without a new draft); None if it never waited."""
        waits = [t.at for t in self.transitions if t.to_state is TicketState.AWAITING_REVIEW]
        return waits[-1] if waits else None


class DeliveryRequest(BaseModel):
    ticket_id: str
    channel: str
    customer_id: str | None
    revision: int
    text: str
    # For the channels: the e-mail's subject line and recipient.
    subject: str | None = None
    customer_email: str | None = None
    # The ticket workflow's first run id: the same through retries, continue-as-new and resets,
    # new for a later ticket with the same id (None from tickets started before it was sent).
    chain: str | None = None
    # The idempotency key of an answer an earlier attempt sent but could not mark sent in the
    # ledger: an attempt finding that row unsent records it without sending it again.
    sent_key: str | None = None
    # When the local first attempt's channel asked to be left alone until (a 429's or 503's
    # Retry-After): the queued attempt waits for it instead of asking again at once.
    not_before: datetime | None = None
    # The chains of the runs this ticket's run was started to replace (the memo's
    # replaces_chains, set by shared/operations.py start_ticket): their answer, if it went out
    # or may have, is not replaced by this run's (stores/ledger.py).
    replaces: list[str] = Field(default_factory=list)

    @field_validator("text", "customer_id", "subject", "customer_email", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # Deliveries scheduled before drafts were stripped still carry NUL (tickets.without_nul).
        return without_nul(value)
