"""A ticket as the visibility store sees it: its search attributes and its memo, read without a
worker (``list``, ``report``, the API's listings, ``submit``'s answer for an id already taken)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from temporalio.common import TypedSearchAttributes

from policy.transitions import TicketState
from shared import names, run_spend
from shared import search_attributes as sa
from shared.ticket_status import shown_state


class AgentTotals(BaseModel):
    tokens: int = 0
    estimated_tokens: int = 0  # of ``tokens``, estimated (characters / 4) rather than counted
    cost_usd: float = 0.0
    calls: int = 0


class TicketSummary(BaseModel):
    """A ticket as the visibility store sees it (no worker needed)."""

    ticket_id: str
    workflow_status: str
    state: str | None = None
    category: str | None = None
    priority: str | None = None
    sla_deadline: datetime | None = None
    escalated: bool = False
    review_reasons: list[str] = Field(
        default_factory=list,
        description="why it waits for review, as codes (docs/lifecycle.md); empty when it does not "
        "wait, or began waiting before the codes were recorded",
    )
    subject: str | None = None
    started_at: datetime | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    trimmed_tokens: int = 0  # an estimate: characters / 4
    estimated_tokens: int = 0  # of ``tokens``, estimated (characters / 4) rather than counted
    agents: dict[str, AgentTotals] = Field(default_factory=dict)
    unreadable: bool = Field(
        default=False,
        description="this process could not decrypt the ticket's memo (a key missing from its "
        "key ring): its subject and usage are not shown, and not in any total",
    )


def summary_from_execution(execution: Any, memo: dict[str, Any] | None) -> TicketSummary:
    """``memo``: None when it could not be decrypted (``memo_if_readable``)."""
    attrs: TypedSearchAttributes = execution.typed_search_attributes
    unreadable = memo is None
    memo = memo or {}
    usage = run_spend.spent(memo)  # with what the runs a restart replaced spent
    status = execution.status.name if execution.status else "UNKNOWN"
    # Terminated or timed out from outside: the workflow's status, not its last state.
    state = shown_state(status, attrs.get(sa.TICKET_STATE))
    return TicketSummary(
        ticket_id=names.ticket_id_from_workflow_id(execution.id),
        workflow_status=status,
        state=state,
        category=attrs.get(sa.TICKET_CATEGORY),
        priority=attrs.get(sa.TICKET_PRIORITY),
        sla_deadline=attrs.get(sa.TICKET_SLA_DEADLINE),
        escalated=bool(attrs.get(sa.TICKET_ESCALATED)),
        # Only while it waits: a ticket terminated in review kept its last reasons.
        review_reasons=(
            list(attrs.get(sa.TICKET_REVIEW_REASONS) or [])
            if state == TicketState.AWAITING_REVIEW.value
            else []
        ),
        subject=memo.get(sa.MEMO_SUBJECT),
        started_at=execution.start_time,
        tokens=int(usage.get("tokens", 0)),
        cost_usd=float(usage.get("cost_usd", 0.0)),
        calls=int(usage.get("calls", 0)),
        trimmed_tokens=int(usage.get("trimmed_tokens", 0)),
        estimated_tokens=int(usage.get("estimated_tokens", 0)),
        agents={k: AgentTotals.model_validate(v) for k, v in (usage.get("agents") or {}).items()},
        unreadable=unreadable,
    )
