"""The pipeline's tunable policy, as one model.

The worker loads it once at start-up (file + environment, see ``shared.settings``), so a bad file
stops the worker with a clear message instead of failing tickets. Each ticket workflow takes a
snapshot through a local activity when it starts; the snapshot is recorded in the ticket's history,
so a ticket keeps the rules it started with (replay-safe) while tickets started after a worker
restart pick up a changed configuration, with no change to workflow code.
"""

from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.agents import AgentRole, AgentRoute, Category, Priority
from shared.business_hours import BusinessHours
from shared.tickets import CustomerTier

OFFLINE_ROUTE = AgentRoute(provider="offline", model="offline-rules-v1")
# Upper bounds for durations: ten years of hours, a day of seconds. A deadline past the
# calendar (TICKETS_REVIEW_FINAL_DEADLINE_HOURS=1e9, meant as "never") failed every ticket's
# workflow task in a loop (OverflowError: date value out of range); 0 is the "never" there.
MAX_HOURS: Final = 87_600.0
MAX_SECONDS: Final = 86_400.0

# The validation context under which the worker loads its configuration (shared/settings.py).
# Every ticket records a snapshot of this model and reads it back on each replay, so a check
# added after a field was released applies only when loading: a snapshot recorded before it
# (final_deadline_hours = 100000, meant as "never"; eleven routes; an SLA longer than the final
# deadline's default, recorded before that field existed) failed every workflow task of its
# ticket, for good. A new bound on a recorded field goes here, not in the field.
LOADING: Final = "loading"


def _loading(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(LOADING))


def loaded_at_most(limit: float) -> AfterValidator:
    """``le=limit``, checked only when the worker loads the configuration (``LOADING``), in the
    words pydantic's own bound uses."""

    def check(value: float, info: ValidationInfo) -> float:
        if _loading(info) and value > limit:
            # As pydantic's own bound says it: 87600, not 87600.0.
            said = int(limit) if float(limit).is_integer() else limit
            raise PydanticCustomError(
                "less_than_equal", "Input should be less than or equal to {le}", {"le": said}
            )
        return value

    return AfterValidator(check)


def _loaded_routes_at_most(limit: int) -> AfterValidator:
    def check(value: list[AgentRoute], info: ValidationInfo) -> list[AgentRoute]:
        if _loading(info) and len(value) > limit:
            raise PydanticCustomError(
                "too_long",
                "List should have at most {max_length} items after validation, not {actual_length}",
                {"max_length": limit, "actual_length": len(value)},
            )
        return value

    return AfterValidator(check)


Hours = Annotated[float, loaded_at_most(MAX_HOURS)]
Seconds = Annotated[float, loaded_at_most(MAX_SECONDS)]
Tokens = Annotated[int, loaded_at_most(1_000_000)]


def _default_sla_hours() -> dict[Priority, float]:
    return {Priority.LOW: 72, Priority.MEDIUM: 24, Priority.HIGH: 4, Priority.URGENT: 1}


def _default_routes() -> dict[AgentRole, list[AgentRoute]]:
    return {role: [OFFLINE_ROUTE] for role in AgentRole}


class ReviewPolicyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Below this classifier confidence a person checks the ticket before anything is sent.
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    # Urgent tickets get human eyes: the cost of a wrong answer is highest there.
    review_urgent: bool = True
    sensitive_categories: list[Category] = Field(default_factory=list)
    # A ticket still waiting for review this many hours after the wait began closes as
    # UNANSWERED (nothing is sent): a review nobody answers must not hold a ticket open for ever.
    # Well past every SLA deadline, so a ticket is always escalated first. 0: wait for ever.
    final_deadline_hours: Hours = Field(default=168.0, ge=0)


class AgentTimeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # One attempt of one agent call. A provider's client timeout must stay below this.
    start_to_close_seconds: Seconds = Field(default=120.0, gt=0)
    # Agent activities heartbeat on progress (streamed chunks): a worker that died, or a
    # response that stalled, is noticed within this many seconds and the call is retried.
    heartbeat_seconds: Seconds = Field(default=20.0, gt=0)
    # How long a call may wait on its provider's queue when a fallback route follows: a provider
    # whose circuit breaker paused its queue (or one far behind) hands the call to the next
    # route after this (a schedule-to-start timeout, which Temporal does not retry). The last
    # route of a chain waits as long as it takes.
    queue_wait_seconds: Seconds = Field(default=120.0, gt=0)


class BudgetConfig(BaseModel):
    """Per-ticket spending limits; 0 means no limit. A ticket about to exceed one goes to a
    person instead of spending more."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=0, ge=0)
    max_cost_usd: float = Field(default=0.0, ge=0)

    @property
    def limited(self) -> bool:
        return bool(self.max_tokens or self.max_cost_usd)


class SpendingLimit(BaseModel):
    """What a run started on a ticket's behalf (an orchestrated draft) may spend: the rest of the
    ticket's budget. None: no limit of that kind (unlike BudgetConfig, 0 is a limit here)."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int | None = Field(default=None, ge=0)
    max_cost_usd: float | None = Field(default=None, ge=0)


MAX_ROUTES = 10


# The most sub-tasks a configuration may allow a plan.
MAX_PLAN_NODES = 50


class OrchestrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A plan with more sub-tasks than this is refused (and sent back to the planner once).
    max_nodes: int = Field(default=8, ge=1, le=MAX_PLAN_NODES)
    # Each dependency's output is trimmed to about this many tokens before a worker reads it.
    context_tokens: Tokens = Field(default=800, ge=50)
    # The synthesizer reads every completed sub-task's output, together at most about this many
    # tokens (an equal share each, never less than context_tokens): trimmed to context_tokens
    # alone, a writer's answer of 600 words lost its middle in the final answer.
    synthesis_tokens: Tokens = Field(default=16_000, ge=50)
    # Tickets triage marks complex are resolved by an orchestrator run instead of one draft.
    orchestrate_complex_tickets: bool = True
    # The cheaper model for a sub-task's last attempt (simplified instruction). None: the last
    # route of the worker agent's chain.
    fallback_route: AgentRoute | None = None


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each priority's hours checked on its own key, so an error names TICKETS_SLA_HOURS_<P>.
    sla_hours: dict[Priority, Annotated[Hours, Field(gt=0)]] = Field(
        default_factory=_default_sla_hours
    )
    # When set, SLA hours pass only in business hours (shared/business_hours.py); None: around
    # the clock.
    business_hours: BusinessHours | None = None
    # How many times the validator may send a draft back before a person takes over.
    max_revision_rounds: int = Field(default=2, ge=0, le=10)
    review: ReviewPolicyConfig = Field(default_factory=ReviewPolicyConfig)
    # Per agent, the fallback chain: the first route is tried first (at most MAX_ROUTES: a chain
    # of 80,000 was taken as given).
    routes: dict[AgentRole, Annotated[list[AgentRoute], _loaded_routes_at_most(MAX_ROUTES)]] = (
        Field(default_factory=_default_routes)
    )
    agent_timeouts: AgentTimeouts = Field(default_factory=AgentTimeouts)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)

    @model_serializer(mode="wrap")
    def _no_calendar_left_out(self, handler: SerializerFunctionWrapHandler) -> object:
        """Without business hours the snapshot a ticket records is what it was before the
        field existed: a worker of an earlier version (a rolling deploy, a rollback) reads it
        (its model refuses a key it does not know, docs/deploy.md)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("business_hours", ...) is None:
            del data["business_hours"]
        return data

    def calendar_for(self, tier: CustomerTier) -> BusinessHours | None:
        """The calendar a ticket of this tier's SLA counts in; None: around the clock."""
        calendar = self.business_hours
        return calendar if calendar is not None and calendar.applies_to(tier) else None

    @field_validator("sla_hours")
    @classmethod
    def _every_priority_has_an_sla(cls, value: dict[Priority, float]) -> dict[Priority, float]:
        return _default_sla_hours() | value

    @model_validator(mode="after")
    def _final_deadline_after_every_sla(self, info: ValidationInfo) -> "PipelineConfig":
        if not _loading(info):
            return self
        final = self.review.final_deadline_hours
        slowest, longest = max(self.sla_hours.items(), key=lambda item: item[1])
        if final and final <= longest:
            # Both fields named, so the error names whichever variable set one of them.
            raise ValueError(
                f"review.final_deadline_hours ({final:g}) must be longer than the longest SLA "
                f"(sla_hours.{slowest}, {longest:g} hours), so a ticket is escalated before it "
                "closes unanswered; 0 turns the final deadline off"
            )
        return self

    def used_routes(self) -> list[AgentRoute]:
        """Every route a call may take: the agents' chains and the orchestrator's fallback
        route (a sub-task's simpler attempt), which needs its provider polled, keyed and priced
        like the others."""
        routes = [route for chain in self.routes.values() for route in chain]
        fallback = self.orchestration.fallback_route
        return [*routes, fallback] if fallback is not None else routes

    @field_validator("routes")
    @classmethod
    def _every_agent_has_a_route(
        cls, value: dict[AgentRole, list[AgentRoute]]
    ) -> dict[AgentRole, list[AgentRoute]]:
        merged = _default_routes() | value
        for role, chain in merged.items():
            if not chain:
                raise ValueError(f"routes.{role} needs at least one provider:model")
        return merged
