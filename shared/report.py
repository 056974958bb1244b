"""The report over a set of tickets (`report`, `make run`'s summary, the API's /report and the
console's review queue): counts by state, category and priority, the review queue, and what the
agents spent. Pure functions of the tickets' summaries from the visibility store."""

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field
from temporalio.client import WorkflowExecutionStatus

from policy.transitions import TicketState
from shared.ticket_listing import REPORT_LIMIT, deadline_order
from shared.ticket_summary import AgentTotals, TicketSummary


class Report(BaseModel):
    total: int
    by_state: dict[str, int]
    by_category: dict[str, int]
    by_priority: dict[str, int]
    review_queue: list[TicketSummary]
    escalated: int
    tokens: int
    cost_usd: float
    calls: int
    trimmed_tokens: int = 0  # an estimate: characters / 4
    estimated_tokens: int = 0  # of ``tokens``, estimated (characters / 4) rather than counted
    agents: dict[str, AgentTotals] = Field(default_factory=dict)
    earlier: int | None = Field(default=None, description="tickets not submitted by this run")
    since: datetime | None = Field(
        default=None, description="the report covers tickets started at or after this time"
    )
    unreadable: int = Field(
        default=0,
        description="tickets this process could not decrypt (a key missing from its key ring): "
        "counted by state, category and priority, but their usage is in no total",
    )
    left_out: int = Field(
        default=0,
        description=f"tickets in the report's window it did not read: it reads the newest "
        f"{REPORT_LIMIT:,} (choose a shorter window with since)",
    )


def _agent_totals(tickets: list[TicketSummary]) -> dict[str, AgentTotals]:
    totals: dict[str, AgentTotals] = {}
    for ticket in tickets:
        for role, usage in ticket.agents.items():
            total = totals.setdefault(role, AgentTotals())
            total.tokens += usage.tokens
            total.estimated_tokens += usage.estimated_tokens
            total.cost_usd = round(total.cost_usd + usage.cost_usd, 6)
            total.calls += usage.calls
    return totals


def review_queue(tickets: list[TicketSummary]) -> list[TicketSummary]:
    """The tickets waiting for a person, oldest SLA deadline first."""
    return sorted(
        (
            t
            for t in tickets
            if t.state == TicketState.AWAITING_REVIEW
            and t.workflow_status == WorkflowExecutionStatus.RUNNING.name
        ),
        key=lambda t: deadline_order(t.sla_deadline),
    )


def build_report(
    tickets: list[TicketSummary],
    this_run: set[str] | None = None,
    *,
    since: datetime | None = None,
    left_out: int = 0,
) -> Report:
    def count(values: list[str | None]) -> dict[str, int]:
        return dict(Counter(v or "-" for v in values).most_common())

    queue = review_queue(tickets)
    return Report(
        total=len(tickets),
        by_state=count([t.state for t in tickets]),
        by_category=count([t.category for t in tickets]),
        by_priority=count([t.priority for t in tickets]),
        review_queue=queue,
        escalated=sum(t.escalated for t in queue),
        tokens=sum(t.tokens for t in tickets),
        cost_usd=round(sum(t.cost_usd for t in tickets), 6),
        calls=sum(t.calls for t in tickets),
        trimmed_tokens=sum(t.trimmed_tokens for t in tickets),
        estimated_tokens=sum(t.estimated_tokens for t in tickets),
        agents=_agent_totals(tickets),
        unreadable=sum(t.unreadable for t in tickets),
        earlier=None if this_run is None else sum(t.ticket_id not in this_run for t in tickets),
        since=since,
        left_out=left_out,
    )
