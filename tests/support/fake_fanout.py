"""Fake agents for the fan-out workflows (planner, specialist workers, synthesizer, insights),
registered under the real activity names.

A test decides the plans, which sub-tasks fail, and when a sub-task may finish (a gate it holds),
so the test is about the workflows' scheduling and bookkeeping, not about the offline rules.
"""

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

from policy.text_budget import estimate_tokens
from shared import names
from shared.agents import AgentReply, AgentRole, AgentRoute, Usage
from shared.orchestration import (
    Plan,
    PlanRequest,
    SubTask,
    Synthesis,
    SynthesisRequest,
    WorkRequest,
    WorkResult,
)
from shared.pipeline_config import OrchestrationConfig, PipelineConfig
from shared.swarm import InsightRequest, ReviewInsights, Sentiment
from tests.support.fakes import fake_routes_config


def task(id: str, worker: str = "researcher", *depends_on: str) -> SubTask:
    return SubTask(id=id, worker=worker, instruction=f"do {id}", depends_on=list(depends_on))


def plan(*subtasks: SubTask) -> Plan:
    return Plan(subtasks=list(subtasks), rationale="a test plan")


def _usage(route: AgentRoute | None, tokens: int = 10) -> Usage:
    return Usage(
        provider=route.provider if route else "fake",
        model=route.model if route else "fake-model",
        input_tokens=tokens,
        output_tokens=tokens,
        latency_ms=5.0,
        cost_usd=0.001,
    )


def permanent(message: str) -> ApplicationError:
    return ApplicationError(message, type="BadRequestError", non_retryable=True)


@dataclass
class FakeOrchestrationAgents:
    """Planner, workers and synthesizer. ``plans`` are answered in order (the last one again
    when the planner is asked more often)."""

    plans: list[Plan]
    # Sub-tasks whose normal attempts fail for good; and those whose simpler attempt fails too.
    failing: set[str] = field(default_factory=set)
    failing_simplified: set[str] = field(default_factory=set)
    # Tokens a failing sub-task's normal attempt spends on an answer that fails for good (its
    # failure carries that usage, as a provider's invalid answer does); 0: it spends nothing.
    failing_spends: int = 0
    # A sub-task with a gate finishes only once the gate is set (the test holds it "slow").
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    config: PipelineConfig = field(default_factory=fake_routes_config)
    plan_requests: list[PlanRequest] = field(default_factory=list)
    work_requests: list[WorkRequest] = field(default_factory=list)
    synthesis_requests: list[SynthesisRequest] = field(default_factory=list)
    started: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    finished: list[str] = field(default_factory=list)
    output_size: int = 0  # characters of filler in each output (0: a short output)
    synthesis_fails: bool = False  # the synthesizer refuses for good
    # Tokens the synthesizer's first route spends on an answer that fails for good (its failure
    # carries that usage, as a provider's invalid answer does); 0: it answers.
    first_synthesis_spends: int = 0
    synthesis_answer: str | None = None  # the synthesizer's answer (default: the results' ids)
    worker_tokens: int = 10  # input and output tokens of each worker call (the planner's: 10)
    # True: a worker's or the synthesizer's input tokens also count the earlier results it is
    # handed (their text's estimate), as a provider counts a prompt that carries them.
    context_in_input: bool = False

    @property
    def queue(self) -> str:
        return names.llm_task_queue(self.config.routes[AgentRole.PLANNER][0].provider)

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_config(self) -> PipelineConfig:
        return self.config

    @activity.defn(name=names.PLAN_TASK)
    async def plan_task(self, request: PlanRequest) -> AgentReply[Plan]:
        self.plan_requests.append(request)
        answer = self.plans[min(len(self.plan_requests), len(self.plans)) - 1]
        return AgentReply(output=answer, usage=_usage(request.route))

    @activity.defn(name=names.RUN_SUBTASK)
    async def run_subtask(self, request: WorkRequest) -> AgentReply[WorkResult]:
        sub = request.subtask.id
        self.work_requests.append(request)
        self.started[sub].set()
        if sub in (self.failing_simplified if request.simplified else self.failing):
            if self.failing_spends and not request.simplified:
                raise ApplicationError(
                    f"the answer to sub-task {sub} was invalid twice",
                    _usage(request.route, self.failing_spends // 2).model_dump(mode="json"),
                    type="InvalidAgentOutput",
                    non_retryable=True,
                )
            raise permanent(f"the model refused sub-task {sub}")
        if (gate := self.gates.get(sub)) is not None:
            await gate.wait()
        self.finished.append(sub)
        context = ",".join(c.subtask_id for c in request.context)
        filler = "x" * self.output_size
        usage = _usage(request.route, self.worker_tokens)
        if self.context_in_input:
            handed = sum(estimate_tokens(c.output) for c in request.context)
            usage = usage.model_copy(update={"input_tokens": usage.input_tokens + handed})
        return AgentReply(
            output=WorkResult(output=f"{sub} done [{context}]{filler}", sources=[f"KB-{sub}"]),
            usage=usage,
        )

    @activity.defn(name=names.SYNTHESIZE_RESULTS)
    async def synthesize(self, request: SynthesisRequest) -> AgentReply[Synthesis]:
        self.synthesis_requests.append(request)
        if self.synthesis_fails:
            raise permanent("the model refused to write the answer")
        first = self.config.routes[AgentRole.SYNTHESIZER][0]
        route = request.route
        if (
            self.first_synthesis_spends
            and route
            and (route.provider, route.model)
            == (
                first.provider,
                first.model,
            )
        ):
            spent = _usage(request.route, self.first_synthesis_spends // 2)
            raise ApplicationError(
                "the answer was invalid twice",
                spent.model_dump(mode="json"),
                type="InvalidAgentOutput",
                non_retryable=True,
            )
        answer = self.synthesis_answer or " + ".join(r.subtask_id for r in request.results)
        usage = _usage(request.route)
        if self.context_in_input:
            handed = sum(estimate_tokens(r.output) for r in request.results)
            usage = usage.model_copy(update={"input_tokens": usage.input_tokens + handed})
        return AgentReply(
            output=Synthesis(answer=answer or "nothing", gaps=list(request.missing)),
            usage=usage,
        )

    def agent_activities(self) -> list[object]:
        return [self.plan_task, self.run_subtask, self.synthesize]


def with_fallback(config: PipelineConfig, provider: str) -> PipelineConfig:
    """The configuration with a cheaper route for sub-tasks' last attempts."""
    fallback = AgentRoute(provider=provider, model="cheap-model")
    return config.model_copy(update={"orchestration": OrchestrationConfig(fallback_route=fallback)})


@dataclass
class FakeInsights:
    """The swarm's agent: items whose text contains ``bad_marker`` fail for good. With a
    ``barrier``, calls finish only in groups of its size: a window smaller than that never fills
    it (each call then fails after ``barrier_timeout``)."""

    config: PipelineConfig = field(default_factory=fake_routes_config)
    bad_marker: str = "<fail>"
    barrier: asyncio.Barrier | None = None
    barrier_timeout: float = 30.0
    # When set, every call waits for it (a test acts while calls are in flight).
    hold: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0
    in_flight: int = 0
    most_in_flight: int = 0

    @property
    def queue(self) -> str:
        return names.llm_task_queue(self.config.routes[AgentRole.INSIGHTS][0].provider)

    @activity.defn(name=names.LOAD_PIPELINE_CONFIG)
    async def load_config(self) -> PipelineConfig:
        return self.config

    @activity.defn(name=names.ANALYZE_ITEM)
    async def analyze(self, request: InsightRequest) -> AgentReply[ReviewInsights]:
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            self.entered.set()
            if self.hold is not None:
                await self.hold.wait()
            if self.barrier is not None:
                await asyncio.wait_for(self.barrier.wait(), self.barrier_timeout)
            if self.bad_marker in request.item.text:
                raise permanent(f"cannot analyse {request.item.item_id}")
            return AgentReply(
                output=ReviewInsights(sentiment=Sentiment.POSITIVE, key_points=["fine"]),
                usage=_usage(request.route),
            )
        finally:
            self.in_flight -= 1
