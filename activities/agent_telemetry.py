"""One span and a few metrics around every agent call, whichever provider answers it.

The span follows the OpenTelemetry GenAI semantic conventions (``chat {model}``, the
``gen_ai.*`` attributes, ``error.type`` on failure) plus the ticket, the agent role and the
attempt. It is a child of the activity's span, which the tracing plugin parents to the
workflow's, so every call lands in its ticket's trace. No prompt or answer text is recorded unless
TICKETS_TRACE_CONTENT=true (shared.telemetry.trace_content).

Metrics go through ``activity.metric_meter()`` (the worker's runtime): the duration of each
attempt by agent, provider, model and outcome, and failures by class. Tokens and dollars are
counted by the workflow (workflows.metrics), which is what the ticket is billed.
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Final

from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers.base import AgentSpec
from activities.providers.structured import earlier_usage
from shared import metrics, telemetry
from shared.agents import AgentReply, AgentRoute, Usage, total_usage

# What gen_ai.provider.name says for providers the conventions name; others keep their own name.
KNOWN_PROVIDER_NAMES: Final = {"openai": "openai", "anthropic": "anthropic"}


def _ticket_id(request: BaseModel) -> str | None:
    ticket = getattr(request, "ticket", None)
    return getattr(ticket, "ticket_id", None)


def _content(spec: AgentSpec[Any, Any], request: BaseModel) -> str:
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": spec.instructions}]},
        {"role": "user", "parts": [{"type": "text", "content": spec.render_input(request)}]},
    ]
    return json.dumps(messages)[: telemetry.MAX_CONTENT_CHARS]


def _this_attempt(usage: Usage, earlier: list[Usage]) -> Usage:
    """``usage`` less what earlier attempts of the activity spent (their heartbeats said)."""
    if not earlier:
        return usage
    spent = total_usage(earlier)
    return usage.model_copy(
        update={
            "input_tokens": max(0, usage.input_tokens - spent.input_tokens),
            "output_tokens": max(0, usage.output_tokens - spent.output_tokens),
            "cached_tokens": max(0, usage.cached_tokens - spent.cached_tokens),
            "cost_usd": max(0.0, round(usage.cost_usd - spent.cost_usd, 8)),
            "requests": max(0, usage.requests - spent.requests),
        }
    )


def _record(route: AgentRoute, role: str, outcome: str, seconds: float) -> None:
    meter = activity.metric_meter()
    labels = {"agent": role, "provider": route.provider, "model": route.model}
    meter.create_histogram_timedelta(
        metrics.AGENT_CALL_DURATION, "Duration of one attempt of an agent call"
    ).record(timedelta(seconds=seconds), {**labels, "outcome": outcome})
    if outcome not in ("ok", "cancelled"):
        meter.create_counter(
            metrics.PROVIDER_FAILURES, "Failed attempts of agent calls, by failure class"
        ).add(1, {**labels, "class": outcome})


async def observed_call(
    spec: AgentSpec[Any, Any],
    route: AgentRoute,
    provider_kind: str,
    request: BaseModel,
    call: Callable[[], Awaitable[AgentReply[Any]]],
) -> AgentReply[Any]:
    info = activity.info()
    role = str(spec.role)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": KNOWN_PROVIDER_NAMES.get(provider_kind, provider_kind),
        "gen_ai.request.model": route.model,
        "gen_ai.agent.name": role,
        "tickets.provider": route.provider,
        "tickets.attempt": info.attempt,
        "temporal.workflow_id": info.workflow_id or "",
        "temporal.activity_type": info.activity_type,
    }
    if ticket_id := _ticket_id(request):
        attributes["tickets.ticket_id"] = ticket_id
    with_content = telemetry.trace_content()
    if with_content:
        attributes["gen_ai.input.messages"] = _content(spec, request)
    earlier = earlier_usage()
    started = time.perf_counter()
    with telemetry.tracer().start_as_current_span(
        f"chat {route.model}",
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,  # exception text can quote the provider's answer
        set_status_on_exception=False,
    ) as span:
        try:
            reply = await call()
        except asyncio.CancelledError:
            span.set_attribute("error.type", "cancelled")
            span.set_status(Status(StatusCode.ERROR, "cancelled"))
            _record(route, role, "cancelled", time.perf_counter() - started)
            raise
        except Exception as err:
            error_type = err.type if isinstance(err, ApplicationError) else None
            error_type = error_type or type(err).__name__
            outcome = metrics.failure_class(error_type)
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
            _record(route, role, outcome, time.perf_counter() - started)
            raise
        # The reply bills what earlier attempts carried too (the workflow counts it once);
        # the span is this attempt's, or a backend summing spans counts those tokens twice.
        usage = _this_attempt(reply.usage, earlier)
        span.set_attributes(
            {
                "gen_ai.response.model": usage.response_model or usage.model,
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
                "tickets.cost_usd": usage.cost_usd,
                "tickets.requests": usage.requests,
                "tickets.trimmed_input_tokens": usage.trimmed_tokens,
            }
        )
        if usage.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [usage.finish_reason])
        if with_content:
            span.set_attribute(
                "gen_ai.output.messages",
                reply.output.model_dump_json()[: telemetry.MAX_CONTENT_CHARS],
            )
        _record(route, role, "ok", time.perf_counter() - started)
        return reply
