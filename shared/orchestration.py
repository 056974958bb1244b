"""Orchestrator-workers: an LLM (or the offline rules) plans a task as a DAG of sub-tasks for
specialist workers; each runs as a child workflow; a synthesizer combines the results."""

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.agents import AgentRoute, Usage
from shared.answer_bounds import cut_list, cut_text
from shared.pipeline_config import MAX_PLAN_NODES, AgentTimeouts, PipelineConfig, SpendingLimit


class WorkerType(StrEnum):
    RESEARCHER = "researcher"
    ANALYST = "analyst"
    WRITER = "writer"
    CODER = "coder"
    REVIEWER = "reviewer"


# What a plan may hold, checked by the plan validator (policy/plan.py), which sends a plan
# past them back to the planner with every problem named, and said in the planner's prompt.
MAX_SUBTASK_ID_CHARS = 40
MAX_INSTRUCTION_CHARS = 2_000
MAX_DEPENDENCIES = 20
# What a model's answer may hold at all (past it, the answer is not a plan): five times the
# above, and five times the most sub-tasks a configuration allows, 250 (a plan of a few MB at
# most; it was 200, under five times a max_nodes of 50). The validator's limits were these once:
# a plan of 60 sub-tasks or one id of 47 characters failed to parse on every route, after a
# repair round each, and the run failed as an agent failure instead of going back to the
# planner with "at most 8 sub-tasks".
MAX_PLAN_SUBTASKS = 5 * MAX_PLAN_NODES
# A plan's rationale is kept to this many characters (cut, not refused: no code reads it, and the
# model is not shown the limit; a longer one failed the plan to parse on every route).
MAX_RATIONALE_CHARS = 1_000


class SubTask(BaseModel):
    # Plain strings, not enums: a plan is the model's answer and is checked by the plan
    # validator, which names every problem instead of failing on the first.
    id: str = Field(min_length=1, max_length=5 * MAX_SUBTASK_ID_CHARS)
    worker: str = Field(min_length=1, max_length=5 * MAX_SUBTASK_ID_CHARS)
    instruction: str = Field(min_length=1, max_length=5 * MAX_INSTRUCTION_CHARS)
    depends_on: list[str] = Field(default_factory=list, max_length=5 * MAX_DEPENDENCIES)


class Plan(BaseModel):
    subtasks: list[SubTask] = Field(max_length=MAX_PLAN_SUBTASKS)
    rationale: str = Field(default="", max_length=MAX_RATIONALE_CHARS)

    @field_validator("rationale", mode="before")
    @classmethod
    def _cut_rationale(cls, value: object) -> object:
        return value[:MAX_RATIONALE_CHARS] if isinstance(value, str) else value


class PlanRequest(BaseModel):
    task: str
    worker_types: list[str]
    max_nodes: int
    # When the previous plan was invalid: what was wrong, so the planner can fix it.
    errors: list[str] = Field(default_factory=list)
    previous_plan: Plan | None = None
    route: AgentRoute | None = None


class ContextItem(BaseModel):
    """A dependency's output, trimmed to the context budget before the worker sees it."""

    subtask_id: str
    worker: str
    output: str
    sources: list[str] = Field(default_factory=list)


class WorkRequest(BaseModel):
    task: str
    subtask: SubTask
    context: list[ContextItem] = Field(default_factory=list)
    # The last resort after the normal attempts failed: a plainer instruction, a cheaper model.
    simplified: bool = False
    route: AgentRoute | None = None


class WorkResult(BaseModel):
    output: str = Field(min_length=1)
    # Where the facts came from (knowledge-base article ids, documents): carried to the answer.
    sources: list[str] = Field(default_factory=list)

    # Cut as read (shared/answer_bounds.py): a compatible server is not held to the output limit.
    _cut_output = field_validator("output", mode="before")(cut_text)
    _cut_sources = field_validator("sources", mode="before")(cut_list)


class SubTaskStatus(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class SubTaskOutcome(BaseModel):
    id: str
    worker: str
    status: SubTaskStatus
    output: str | None = None
    error: str | None = None
    model: str | None = None
    simplified: bool = False
    sources: list[str] = Field(default_factory=list)
    usage: list[Usage] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class SynthesisRequest(BaseModel):
    task: str
    results: list[ContextItem]
    missing: list[str] = Field(
        default_factory=list, description="sub-tasks that failed or were skipped"
    )
    route: AgentRoute | None = None


class Synthesis(BaseModel):
    answer: str = Field(min_length=1)
    gaps: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    # Cut as read (shared/answer_bounds.py): a compatible server is not held to the output limit.
    _cut_answer = field_validator("answer", mode="before")(cut_text)
    _cut_lists = field_validator("gaps", "sources", mode="before")(cut_list)


MAX_TASK_CHARS = 20_000


class OrchestratorInput(BaseModel):
    task: str = Field(min_length=1, max_length=MAX_TASK_CHARS)
    # Set when a ticket's resolution is orchestrated: shown in the result, used in summaries.
    ticket_id: str | None = None
    # What the run may spend (the rest of its ticket's budget): it stops before the agent call
    # that would pass it. None: no limit (runs started before budgets reached the orchestrator).
    budget: SpendingLimit | None = None
    # Until when its agent calls may keep retrying (rate limits above all): its ticket's SLA
    # deadline. None: the default window (a run for no ticket, or started before this field).
    retry_until: AwareDatetime | None = None
    # Its ticket's configuration snapshot, when a ticket's resolution is orchestrated: the run
    # works by it, as the ticket does (since patch "ticket-config-kept"). None: the run takes a
    # snapshot of its own (a run for no ticket, or started before this field): a ticket whose
    # run started on a worker restarted with other settings ran its plan on those.
    config: PipelineConfig | None = None


# Why an orchestrator run failed (the ApplicationError's type); its details carry an
# OrchestratorFailure, so whoever started the run can bill what it spent.
INVALID_PLAN = "InvalidPlan"
NO_SUBTASK_COMPLETED = "NoSubTaskCompleted"
ORCHESTRATOR_BUDGET_SPENT = "OrchestratorBudgetSpent"
ORCHESTRATOR_AGENT_FAILED = "OrchestratorAgentFailed"
# Why a sub-task stopped before a further call: its share of the run's budget (its details carry
# the usage it spent, as a failed sub-task's do).
SUBTASK_BUDGET_SPENT = "SubTaskBudgetSpent"


class OrchestratorFailure(BaseModel):
    """The details of a failed orchestrator run: every agent call's usage, and why it stopped."""

    # A newer version's field is left out (a rolling deploy: a newer orchestrator's failure read
    # by an older ticket worker), not a reason to bill nothing of what the run spent. No
    # version has sent one yet, so no history reads differently.
    model_config = ConfigDict(extra="ignore")

    usage: dict[str, list[Usage]] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)  # an invalid plan's problems
    outcomes: list[SubTaskOutcome] = Field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(u.input_tokens + u.output_tokens for calls in self.usage.values() for u in calls)


class OrchestrationSpent(BaseModel):
    """What an orchestrator run cancelled on its own had spent, sent to the ticket that started
    it before the run ends cancelled: Temporal records no details with a cancellation, and the
    ticket billed none of it. The calls running when it was cancelled are not in it (their
    answers never came). A sub-task cancelled on its own sends its run the same (``run``: the
    sub-task's workflow id; its calls under ``worker``), for the run to count and bill."""

    # A newer version's field is left out, not a reason to drop what the run spent.
    model_config = ConfigDict(extra="ignore")

    run: str = Field(max_length=1_000)  # the run's workflow id
    usage: dict[str, list[Usage]] = Field(default_factory=dict)

    def problem(self) -> str | None:
        """Why this is no run's spend (None: it may be): a signal can come from anyone who may
        signal the ticket, and what it says is added to the ticket's bill and budget."""
        calls = [u for usage in self.usage.values() for u in usage]
        if len(calls) > MAX_REPORTED_CALLS:
            return f"{len(calls)} calls, more than a run makes ({MAX_REPORTED_CALLS})"
        for u in calls:
            counts = (
                u.input_tokens,
                u.output_tokens,
                u.cached_tokens,
                u.cache_write_tokens,
                u.trimmed_tokens,
            )
            if min(counts) < 0 or u.requests < 0 or not 0 <= u.cost_usd <= MAX_REPORTED_CALL_USD:
                return "a negative count, or a cost that is no call's (NaN, infinite, huge)"
            if not 0 <= u.latency_ms <= MAX_REPORTED_CALL_MS or u.requests > MAX_REPORTED_CALLS:
                # A NaN or infinite latency summed into the ticket's view is written as null,
                # and the view no longer read back: its status and its result failed to decode.
                return "a time or a request count that is no call's (NaN, infinite, huge)"
            if max(counts) > MAX_REPORTED_CALL_TOKENS:
                return f"more tokens than a call is billed ({MAX_REPORTED_CALL_TOKENS:,})"
            if len(u.provider) > 200 or len(u.model) > 200:
                return "a provider or model name past 200 characters"
        return None


# More calls than one orchestrator run makes (its plan's sub-tasks, each with a few attempts);
# more than one call is billed. A NaN cost passed a check for negative ones, and the ticket's
# spent cost became NaN: every budget comparison false, its cost budget off for good.
MAX_REPORTED_CALLS = 2_000
MAX_REPORTED_CALL_TOKENS = 100_000_000
# A day: no call's attempt runs longer (the agents' start-to-close is minutes).
MAX_REPORTED_CALL_MS = 86_400_000.0
MAX_REPORTED_CALL_USD = 10_000.0


class SubTaskShare(BaseModel):
    """What a sub-task may spend, held for it from its run's budget when it started: it makes a
    call after its first (a fallback route, the simpler attempt) only while the call, estimated
    as the larger of ``call_*`` and its own largest, fits."""

    model_config = ConfigDict(extra="forbid")

    limit: SpendingLimit
    call_tokens: int = Field(ge=0)
    call_cost_usd: float = Field(ge=0)


class SubTaskInput(BaseModel):
    task: str
    subtask: SubTask
    context: list[ContextItem] = Field(default_factory=list)
    routes: list[AgentRoute]
    fallback_route: AgentRoute
    timeouts: AgentTimeouts
    # None: no limit (a run without a budget, or one started before sub-tasks held shares).
    share: SubTaskShare | None = None
    # Until when its calls may retry (its run's retry_until).
    retry_until: AwareDatetime | None = None


class OrchestratorProgress(BaseModel):
    phase: str  # planning, running, synthesizing, done
    plan: Plan | None = None
    # Without their outputs (the result has them).
    outcomes: list[SubTaskOutcome] = Field(default_factory=list)
    running: list[str] = Field(default_factory=list)


class OrchestratorResult(BaseModel):
    task: str
    plan: Plan
    plan_attempts: int
    outcomes: list[SubTaskOutcome]
    synthesis: Synthesis
    usage: dict[str, list[Usage]] = Field(default_factory=dict)

    @property
    def cost_usd(self) -> float:
        return sum(u.cost_usd for calls in self.usage.values() for u in calls)

    @property
    def tokens(self) -> int:
        return sum(u.input_tokens + u.output_tokens for calls in self.usage.values() for u in calls)
