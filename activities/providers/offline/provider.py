"""Offline provider: answers every agent role by rules, labelled as offline in every result."""

import time
from typing import Any, cast

from pydantic import BaseModel

from activities.providers.base import AgentSpec, InT, OutT, Provider
from activities.providers.offline import (
    classifier,
    insights,
    planner,
    resolver,
    triage,
    validator,
    workers,
)
from activities.text import estimate_tokens
from shared.agents import (
    AgentReply,
    AgentRole,
    ClassifyRequest,
    DraftRequest,
    TriageRequest,
    Usage,
    ValidateRequest,
)
from shared.off_loop import in_thread_if
from shared.orchestration import PlanRequest, SynthesisRequest, WorkRequest
from shared.swarm import InsightRequest

OFFLINE_MODEL = "offline-rules-v1"


def _answer(role: AgentRole, request: Any) -> BaseModel:
    if role is AgentRole.CLASSIFIER:
        return classifier.classify(cast(ClassifyRequest, request).ticket)
    if role is AgentRole.TRIAGE:
        r = cast(TriageRequest, request)
        return triage.triage(r.ticket, r.classification)
    if role is AgentRole.RESOLVER:
        return resolver.draft(cast(DraftRequest, request))
    if role is AgentRole.VALIDATOR:
        v = cast(ValidateRequest, request)
        return validator.validate(v.ticket, v.draft, v.articles)
    if role is AgentRole.PLANNER:
        return planner.plan(cast(PlanRequest, request))
    if role is AgentRole.WORKER:
        return workers.work(cast(WorkRequest, request))
    if role is AgentRole.SYNTHESIZER:
        return workers.synthesize(cast(SynthesisRequest, request))
    if role is AgentRole.INSIGHTS:
        return insights.insights(cast(InsightRequest, request).item)
    raise ValueError(f"the offline provider has no rules for the {role} agent")


IN_THREAD_CHARS = 8_000


class OfflineProvider(Provider):
    name = "offline"

    async def run(self, spec: AgentSpec[InT, OutT], request: InT, model: str) -> AgentReply[OutT]:
        started = time.perf_counter()
        # Token figures are estimates of what the same prompt would cost on an LLM, so budgets
        # and reports behave the same offline; the cost is zero and the result says offline.
        prompt = f"{spec.instructions}\n{spec.render_input(request)}"
        # The rules take milliseconds for a ticket of usual length and tens of them for a
        # 20,000-character one: those run in a thread, off the worker's event loop.
        answer = await in_thread_if(len(prompt) > IN_THREAD_CHARS, _answer, spec.role, request)
        output = spec.output_model.model_validate(answer.model_dump())
        usage = Usage(
            provider=self.name,
            model=model or OFFLINE_MODEL,
            input_tokens=estimate_tokens(prompt),
            output_tokens=estimate_tokens(output.model_dump_json()),
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            cost_usd=0.0,
            offline=True,
        )
        return AgentReply[spec.output_model](output=output, usage=usage)  # type: ignore[name-defined]
