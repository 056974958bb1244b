"""The ticket's state inside its workflow, and everything that makes it visible outside.

Every change goes through ``move`` (checked against the transition table, logged with
``workflow.now()``) and ``publish`` (search attributes, memo and the Web UI's current details), so
the status query, ``temporal workflow list`` and the Web UI always agree.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from policy.transitions import (
        AGENT_STATES,
        SETTLED_STATES,
        TERMINAL_STATES,
        IllegalTransition,
        TicketState,
        check_transition,
    )
    from shared import search_attributes as sa
    from shared.agents import Usage
    from shared.tickets import Ticket
    from shared.view import AgentUsageTotals, TicketView, Transition
    from workflows import metrics


# The ApplicationError type of a move the lifecycle forbids: a bug in the workflow.
ILLEGAL_TRANSITION = "IllegalTransition"


class TicketRecord:
    def __init__(self, ticket: Ticket) -> None:
        self.view = TicketView(
            ticket_id=ticket.ticket_id, subject=ticket.subject, state=TicketState.NEW
        )
        self._published: dict[str, Any] = {}
        self._published_usage: dict[str, Any] | None = None
        # Tickets since the lean-history patch (set by the workflow before start()) publish
        # only what a visibility query needs (see publish()).
        self.lean = False
        # Tickets since the stages-at-rest version (set by the workflow before start()) publish
        # no move from one agent state to another (see publish()).
        self.stages_at_rest = False
        # Whether the ticket waits on its orchestrator run now; and what that run said it had
        # spent as it was cancelled (the orchestration_spent signal, taken only while it is
        # waited on), by role: billed once the run ends cancelled.
        self.orchestration_pending = False
        self.orchestration_spent: dict[str, list[Usage]] | None = None

    @property
    def state(self) -> TicketState:
        return self.view.state

    def start(self) -> None:
        self.view.trace_id, self.view.trace_span_id = metrics.trace_ids()
        self.view.transitions.append(
            Transition(
                from_state=None,
                to_state=TicketState.NEW,
                at=workflow.now(),
                agent="intake",
                reason="ticket received",
            )
        )
        if self.lean:
            # The starter's NEW is already on the ticket (it came with the start request):
            # publishing it again would cost an event. A ticket started without it gets it now.
            given = workflow.info().typed_search_attributes.get(sa.TICKET_STATE)
            if given == TicketState.NEW.value:
                self._published[sa.TICKET_STATE.name] = given
        self.publish()

    def move(
        self,
        target: TicketState,
        agent: str,
        reason: str,
        model: str | None = None,
        *,
        publish: bool = True,
    ) -> None:
        """Move to ``target`` (checked against the transition table) and record why. With
        ``publish=False`` the search attributes wait for the next publish: for a state the same
        workflow task leaves again, which no visibility query could see anyway."""
        try:
            check_transition(self.view.state, target)
        except IllegalTransition as err:
            # A bug in this workflow. A plain exception would retry the workflow task forever;
            # a non-retryable ApplicationError fails the workflow loudly instead.
            raise ApplicationError(str(err), type=ILLEGAL_TRANSITION, non_retryable=True) from err
        self.view.transitions.append(
            Transition(
                from_state=self.view.state,
                to_state=target,
                at=workflow.now(),
                agent=agent,
                reason=reason,
                model=model,
            )
        )
        self.view.state = target
        if target in TERMINAL_STATES:
            metrics.ticket_finished(self.view)
        if publish:
            self.publish()

    def add_usage(self, role: str, usage: Usage) -> None:
        self.view.usage.setdefault(role, AgentUsageTotals()).add(usage)

    def escalate(self) -> None:
        self.view.escalated = True
        self.view.escalated_at = workflow.now()
        metrics.escalated(self.view)
        self.publish()

    def publish(self) -> None:
        """Upsert what changed since the last publish (each upsert is an event in the history,
        and an action on a Temporal Cloud bill). Since stages-at-rest, a ticket that goes from
        one agent state to another (NEW to VALIDATED) upserts nothing: visibility keeps the
        agent state it last published (the starter's NEW; RESOLVING for a rework) until the
        ticket waits for a person or a delivery, or ends. Its stage at the moment is in its
        status query and the Web UI's current details."""
        v = self.view
        if (
            self.stages_at_rest
            and v.state in AGENT_STATES
            and self._published.get(sa.TICKET_STATE.name) in AGENT_STATES
        ):
            workflow.set_current_details(self._details())
            return
        wanted: dict[str, Any] = {
            sa.TICKET_STATE.name: (sa.TICKET_STATE, v.state.value),
            sa.TICKET_CATEGORY.name: (sa.TICKET_CATEGORY, v.category.value if v.category else None),
            sa.TICKET_PRIORITY.name: (sa.TICKET_PRIORITY, v.priority.value if v.priority else None),
            sa.TICKET_SLA_DEADLINE.name: (sa.TICKET_SLA_DEADLINE, v.sla_deadline),
            sa.TICKET_ESCALATED.name: (sa.TICKET_ESCALATED, v.escalated),
        }
        updates: list[SearchAttributeUpdate[Any]] = []
        state_changes = self._published.get(sa.TICKET_STATE.name) != v.state.value
        if self.lean and not v.escalated:
            # Only ever queried as `TicketEscalated = true`: false need not be written.
            del wanted[sa.TICKET_ESCALATED.name]
        for name, (key, value) in wanted.items():
            if value is not None and self._published.get(name) != value:
                updates.append(key.value_set(value))
                self._published[name] = value
        updates += self._review_reasons_update(bool(updates))
        if state_changes:
            # In the upsert that changes the state: no event of its own (an upsert's content is
            # not compared on replay, so tickets that ran before it replay as they ran).
            updates.append(sa.TICKET_STATE_SINCE.value_set(workflow.now()))
        if updates:
            workflow.upsert_search_attributes(updates)
        # Usage totals go in the memo for `report`, which reads tickets at rest: publishing them
        # only when a ticket settles saves an event per agent call.
        usage = {
            "tokens": v.total_tokens,
            "cost_usd": round(v.total_cost_usd, 6),
            "calls": sum(u.calls for u in v.usage.values()),
            "trimmed_tokens": v.trimmed_tokens,
            "estimated_tokens": v.estimated_tokens,
            "agents": {
                role: {
                    "tokens": u.input_tokens + u.output_tokens,
                    "estimated_tokens": u.estimated_tokens,
                    "cost_usd": round(u.cost_usd, 6),
                    "calls": u.calls,
                }
                for role, u in v.usage.items()
            },
        }
        if v.state in SETTLED_STATES and usage != self._published_usage and usage["calls"]:
            workflow.upsert_memo({sa.MEMO_USAGE: usage})
            self._published_usage = usage
        workflow.set_current_details(self._details())

    def _review_reasons_update(self, upserting: bool) -> list[SearchAttributeUpdate[Any]]:
        """TicketReviewReasons: the codes while the ticket waits for review, removed when it
        stops waiting. Only ever added to an upsert of the state (entering or leaving
        AWAITING_REVIEW changes TicketState), so it costs no event: the upsert's content is not
        compared on replay, and a ticket that waited before it existed replays as it ran."""
        key, name = sa.TICKET_REVIEW_REASONS, sa.TICKET_REVIEW_REASONS.name
        waiting = self.view.state is TicketState.AWAITING_REVIEW
        codes = self.view.review_reason_codes if waiting else []
        if not upserting or self._published.get(name, []) == codes:
            return []
        self._published[name] = codes
        return [key.value_set(codes) if codes else key.value_unset()]

    def _details(self) -> str:
        """Markdown shown in the Web UI's workflow page ("current details")."""
        v = self.view
        lines = [f"**{v.state}** · {v.subject}"]
        if v.category:
            lines.append(
                f"category {v.category} ({v.confidence:.2f}) · priority {v.priority or '-'}"
            )
        if v.sla_deadline:
            flag = " · **escalated**" if v.escalated else ""
            lines.append(f"SLA deadline {v.sla_deadline:%Y-%m-%d %H:%M} UTC{flag}")
        if v.draft:
            lines.append(f"draft revision {v.draft.revision} by {v.draft.author}")
        if v.review_reasons and v.state is TicketState.AWAITING_REVIEW:
            lines.append("review needed: " + "; ".join(v.review_reasons))
        if v.failure:
            lines.append(f"failure: {v.failure}")
        return "\n\n".join(lines)
