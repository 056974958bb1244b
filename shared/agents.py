"""What agents take and give: the models that cross the workflow/activity boundary.

An agent is a role with an input model and an output model. Output models are what a provider must
produce (an LLM fills them through structured output; the offline provider fills them by rules);
every call returns its output wrapped in an ``AgentReply`` together with the call's ``Usage``.
"""

from collections.abc import Sequence
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.answer_bounds import cut_list
from shared.tickets import Ticket, without_nul


class AgentRole(StrEnum):
    CLASSIFIER = "classifier"
    TRIAGE = "triage"
    RESOLVER = "resolver"
    VALIDATOR = "validator"
    # Orchestrator-workers: plans a task, does one sub-task, combines the results.
    PLANNER = "planner"
    WORKER = "worker"
    SYNTHESIZER = "synthesizer"
    # The swarm's agent: sentiment and key points of one product review.
    INSIGHTS = "insights"


class Category(StrEnum):
    TECHNICAL = "Technical"
    BILLING = "Billing"
    ACCOUNT = "Account"
    FEATURE_REQUEST = "Feature Request"
    BUG_REPORT = "Bug Report"
    GENERAL = "General"  # the fallback for anything the others do not cover


class Priority(StrEnum):
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    URGENT = "Urgent"

    @property
    def rank(self) -> int:
        """0 for Low up to 3 for Urgent."""
        return list(Priority).index(self)


class AgentRoute(BaseModel):
    """Which provider and model answer an agent call. The workflow picks the route (first of the
    agent's fallback chain) and sends the activity to that provider's task queue."""

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    # Set by the workflow on the copy an activity gets when another route follows this one in the
    # chain (data of the activity's input, not a command): an overloaded provider then hands the
    # call on after a few answers (activities/retry_budget.py) instead of waiting out the spell.
    hands_on: bool = False


class Usage(BaseModel):
    """What one agent call cost. Offline calls report estimated tokens and zero cost."""

    provider: str
    model: str
    # Every prompt token, cached or not; of those, read from and written to the prompt cache
    # (each billed at its own rate, see ``shared.provider_config.cost_usd``).
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    offline: bool = False
    # The tokens were estimated from the text (characters / 4), not counted by the provider: a
    # server that sent no usage (offline calls are estimated too, by ``offline``).
    estimated: bool = False
    # Tokens the model did not have to read because the ticket was trimmed first.
    trimmed_tokens: int = 0
    # Model calls behind this agent call (2 when a repair round was needed; more when earlier
    # attempts of the activity spent tokens before they failed).
    requests: int = 1
    # Why the model stopped on the last request (stop, length, tool_use, ...), when it says.
    finish_reason: str | None = None
    # The model the last answer names (a dated snapshot of ``model``, or what a gateway
    # substituted), when the provider says.
    response_model: str | None = None

    @property
    def tokens_estimated(self) -> bool:
        """Its tokens are an estimate (characters / 4): offline, or a server without usage."""
        return self.offline or self.estimated


def total_usage(parts: Sequence[Usage]) -> Usage:
    """Several calls' usage as one (the attempts of one activity, the routes one swarm item
    tried): tokens, cost, latency and requests added; provider, model, finish reason and
    response model of the last part."""
    if not parts:
        raise ValueError("no usage to add up")
    last = parts[-1]
    return Usage(
        provider=last.provider,
        model=last.model,
        input_tokens=sum(p.input_tokens for p in parts),
        output_tokens=sum(p.output_tokens for p in parts),
        cached_tokens=sum(p.cached_tokens for p in parts),
        cache_write_tokens=sum(p.cache_write_tokens for p in parts),
        latency_ms=round(sum(p.latency_ms for p in parts), 1),
        cost_usd=round(sum(p.cost_usd for p in parts), 8),
        offline=all(p.offline for p in parts),
        estimated=any(p.estimated for p in parts),
        trimmed_tokens=sum(p.trimmed_tokens for p in parts),
        requests=sum(p.requests for p in parts),
        finish_reason=last.finish_reason,
        response_model=last.response_model,
    )


OutputT = TypeVar("OutputT", bound=BaseModel)


class AgentReply(BaseModel, Generic[OutputT]):
    output: OutputT
    usage: Usage


# ---- outputs -------------------------------------------------------------------------------------


class Classification(BaseModel):
    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = Field(max_length=500)


MAX_CUES = 20
RATIONALE_CHARS = 500  # a triage's rationale at most


class TriageResult(BaseModel):
    priority: Priority
    rationale: str = Field(max_length=RATIONALE_CHARS)
    cues: list[str] = Field(default_factory=list, max_length=MAX_CUES)
    # Several questions or an investigation across areas: resolved by an orchestrator run
    # (planner and specialist workers) instead of a single draft, when configured.
    complex: bool = False

    @field_validator("cues", mode="before")
    @classmethod
    def _first_cues(cls, value: object) -> object:
        # The words that drove the decision, shown, read by nothing that decides: a model that
        # listed a 21st cost the call a repair round, and a second miss dropped the whole
        # triage (an Urgent outage taken as Medium). The first ones are kept; a recorded answer
        # (at most 20, validated when it was made) reads the same.
        return value[:MAX_CUES] if isinstance(value, list) else value


class KnowledgeArticle(BaseModel):
    """An article of the knowledge base. ``internal_note`` is for agents only and must never reach
    a customer (the validator checks)."""

    article_id: str
    title: str
    category: Category
    answer: str
    internal_note: str = ""


class Draft(BaseModel):
    text: str = Field(min_length=1, max_length=8_000)
    cited_articles: list[str] = Field(default_factory=list)

    # Cut as read (shared/answer_bounds.py): a compatible server is not held to the output limit.
    _cut_cited = field_validator("cited_articles", mode="before")(cut_list)

    @field_validator("text", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # A model may emit NUL; the answer is stored in the delivery ledger (tickets.without_nul).
        return without_nul(value)


class FindingCode(StrEnum):
    EMPTY = "empty"
    OFF_TOPIC = "off_topic"
    FORBIDDEN_PROMISE = "forbidden_promise"
    INTERNAL_LEAK = "internal_leak"
    UNGROUNDED = "ungrounded"
    OTHER = "other"


class Finding(BaseModel):
    code: FindingCode
    message: str = Field(max_length=500)


class Validation(BaseModel):
    approved: bool
    findings: list[Finding] = Field(default_factory=list)

    _cut_findings = field_validator("findings", mode="before")(
        lambda value: cut_list(value, item_chars=None)
    )


# ---- inputs --------------------------------------------------------------------------------------
# Every agent request names its route (provider and model). The workflow builds a request without
# one and sets it for each attempt along the agent's fallback chain.


class ClassifyRequest(BaseModel):
    ticket: Ticket
    route: AgentRoute | None = None


class TriageRequest(BaseModel):
    ticket: Ticket
    classification: Classification
    route: AgentRoute | None = None


class DraftRequest(BaseModel):
    ticket: Ticket
    classification: Classification
    priority: Priority
    articles: list[KnowledgeArticle]
    revision: int = Field(ge=1, description="the revision number this draft will carry")
    findings: list[Finding] = Field(default_factory=list, description="from the validator")
    reviewer_notes: str | None = None
    previous_draft: str | None = None
    route: AgentRoute | None = None


class ValidateRequest(BaseModel):
    ticket: Ticket
    classification: Classification
    draft: Draft
    articles: list[KnowledgeArticle]
    route: AgentRoute | None = None


class KnowledgeQuery(BaseModel):
    category: Category
    text: str
    limit: int = Field(default=3, ge=1, le=10)
