"""What the workflows report to the worker's metrics endpoint, and the trace a ticket belongs to.

Everything here goes through ``workflow.metric_meter()``, which records nothing while a history
is replayed: a ticket replayed after a worker restart, or by the Replayer, counts once (but a
workflow task that fails after recording is retried and records again: docs/observability.md).
None of it is a command, so calling these changes no history. Each helper is called from one
line where the thing happens (agent_calls, ticket_record, review_gate).
"""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from opentelemetry import trace

    from policy.transitions import TicketState
    from shared import metrics as m
    from shared.agents import Usage
    from shared.view import TicketView


def record_usage(role: str, usage: Usage) -> None:
    """What one agent call was billed: tokens by type (cached tokens are part of the input, as
    in the GenAI conventions' gen_ai.usage.input_tokens), dollars, tokens saved by trimming."""
    meter = workflow.metric_meter()
    labels = {"agent": str(role), "provider": usage.provider, "model": usage.model}
    tokens = meter.create_counter(m.LLM_TOKENS, "Tokens billed by LLM providers, by type")
    # Never below 0 nor past a 64-bit counter: a counter refuses either with an exception, in
    # workflow code, which failed every workflow task of the ticket (the providers clamp what
    # they read; usage recorded before they did replays through here too).
    tokens.add(_count(usage.input_tokens), {**labels, "type": "input"})
    tokens.add(_count(usage.output_tokens), {**labels, "type": "output"})
    tokens.add(_count(usage.cached_tokens), {**labels, "type": "cached"})
    meter.create_histogram_float(m.LLM_COST, "Estimated cost of one agent call in USD").record(
        max(usage.cost_usd, 0.0) if usage.cost_usd == usage.cost_usd else 0.0, labels
    )
    if usage.trimmed_tokens > 0:
        meter.create_counter(
            m.TRIMMED_TOKENS, "Input tokens removed by trimming before any model read them"
        ).add(_count(usage.trimmed_tokens), {"agent": str(role)})


def _count(value: int) -> int:
    return min(max(value, 0), 2**63 - 1)


def ticket_finished(view: TicketView) -> None:
    """A ticket at its final state: counted (with whether it met its SLA deadline), how long
    it took from its run's start, and what its agents cost."""
    meter = workflow.metric_meter()
    now = workflow.now()
    deadline = view.sla_deadline
    sla = "none" if deadline is None else "met" if now <= deadline else "missed"
    category = str(view.category or "none")
    meter.create_counter(m.TICKETS_FINISHED, m.TICKETS_FINISHED_HELP).add(
        1, {"state": view.state.value, "category": category, "sla": sla}
    )
    took = now - workflow.info().workflow_start_time
    meter.create_histogram_timedelta(
        m.TICKET_RESOLUTION, "Time from a ticket's start to its final state"
    ).record(
        max(took, timedelta(0)),
        {"state": view.state.value, "priority": str(view.priority or "none")},
    )
    cost = view.total_cost_usd
    meter.create_histogram_float(
        m.TICKET_COST, "Estimated cost of one ticket's agents in USD"
    ).record(max(cost, 0.0) if cost == cost else 0.0, {"category": category})


def escalated(view: TicketView) -> None:
    workflow.metric_meter().create_counter(
        m.SLA_ESCALATIONS, "Tickets whose review passed its SLA deadline"
    ).add(1, {"priority": str(view.priority or "none")})


def budget_handoff() -> None:
    workflow.metric_meter().create_counter(
        m.BUDGET_HANDOFFS, "Tickets handed to a person because their budget would be passed"
    ).add(1)


def review_decided(view: TicketView, action: str) -> None:
    """How long the ticket waited for the person whose decision just arrived."""
    since = next(
        (t.at for t in reversed(view.transitions) if t.to_state is TicketState.AWAITING_REVIEW),
        None,
    )
    waited = workflow.now() - since if since is not None else timedelta(0)
    workflow.metric_meter().create_histogram_timedelta(
        m.REVIEW_WAIT, "Time from a ticket's review request to the reviewer's decision"
    ).record(max(waited, timedelta(0)), {"action": str(action)})


def trace_ids() -> tuple[str | None, str | None]:
    """The hex trace and span id of this workflow's own span (the tracing plugin makes it the
    current span), so a later action can link to the trace; (None, None) when not traced. The
    ids come from the workflow's seeded random: a replay finds the same ones."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
