"""Triage's priority is the Temporal priority key of a ticket's later work: under a backlog, an
Urgent ticket is served before Low ones submitted earlier. On the dev server, whose matcher
honours priority keys (the time-skipping server ignores them).

The backlog is a condition here, not a matter of speed: the agents' worker has one slot, and the
call holding it answers only once every other ticket with agent work left has its next call
waiting on the server. So each time the slot frees, the matcher chooses among every other
ticket's next call, however slowly the workflows' worker turns a reply into the next call (with
a fixed 50 ms per call, a loaded machine's slower round trips left gaps in which only Low calls
were queued). What is asserted is the order in which the one slot was given the calls."""

import uuid
from dataclasses import dataclass, field

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from policy.transitions import TicketState
from shared import names
from shared.agents import (
    AgentReply,
    Classification,
    ClassifyRequest,
    Draft,
    DraftRequest,
    Priority,
    TriageRequest,
    TriageResult,
    ValidateRequest,
    Validation,
)
from shared.pipeline_config import ReviewPolicyConfig
from shared.view import TicketView
from tests.support.fakes import FakeAgents, FakeTicketServices, fake_routes_config, usage
from tests.support.temporal import wait_until
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import running
from workflows import ALL_WORKFLOWS

AGENT_ACTIVITIES = {
    names.CLASSIFY_TICKET,
    names.TRIAGE_TICKET,
    names.DRAFT_RESOLUTION,
    names.VALIDATE_RESOLUTION,
}
# How long the call holding the slot may wait for the others' next calls: the workflows'
# worker's round trips, seconds at worst on a loaded machine.
BACKLOG_TIMEOUT = 60.0


@dataclass
class OneAtATimeAgentsFake(FakeAgents):
    """Tickets whose id starts with "U" are Urgent, others Low. Each call records that the slot
    served it, then holds the slot until every other ticket that still has agent calls to make
    has its next one scheduled (so queued on the agents' task queue)."""

    client: Client | None = None
    ticket_ids: list[str] = field(default_factory=list)
    served: list[tuple[str, str]] = field(default_factory=list)  # (ticket id, call), in order
    validated: set[str] = field(default_factory=set)  # no agent call left (approved at once)

    async def _hold_until_the_others_are_queued(self, ticket_id: str, call: str) -> None:
        self.served.append((ticket_id, call))
        assert self.client is not None
        client = self.client

        async def others_queued() -> bool:
            activity.heartbeat()
            others = [t for t in self.ticket_ids if t != ticket_id and t not in self.validated]
            for other in others:
                handle = client.get_workflow_handle(names.ticket_workflow_id(other))
                pending = (await handle.describe()).raw_description.pending_activities
                if not any(
                    a.activity_type.name in AGENT_ACTIVITIES
                    and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
                    for a in pending
                ):
                    return False
            return True

        await wait_until(
            others_queued,
            timeout=BACKLOG_TIMEOUT,
            interval=0.02,
            what=f"every other ticket's next agent call queued (slot held by {ticket_id})",
        )

    @activity.defn(name=names.CLASSIFY_TICKET)
    async def classify(self, request: ClassifyRequest) -> AgentReply[Classification]:
        await self._hold_until_the_others_are_queued(request.ticket.ticket_id, "classify")
        return await super().classify(request)

    @activity.defn(name=names.TRIAGE_TICKET)
    async def triage(self, request: TriageRequest) -> AgentReply[TriageResult]:
        await self._hold_until_the_others_are_queued(request.ticket.ticket_id, "triage")
        urgent = request.ticket.ticket_id.startswith("U")
        priority = Priority.URGENT if urgent else Priority.LOW
        output = TriageResult(priority=priority, rationale=f"fake {priority}")
        return AgentReply[TriageResult](output=output, usage=usage(request))

    @activity.defn(name=names.DRAFT_RESOLUTION)
    async def draft(self, request: DraftRequest) -> AgentReply[Draft]:
        await self._hold_until_the_others_are_queued(request.ticket.ticket_id, "draft")
        return await super().draft(request)

    @activity.defn(name=names.VALIDATE_RESOLUTION)
    async def validate(self, request: ValidateRequest) -> AgentReply[Validation]:
        # Approved (FakeAgents' default): this ticket makes no more agent calls.
        self.validated.add(request.ticket.ticket_id)
        await self._hold_until_the_others_are_queued(request.ticket.ticket_id, "validate")
        return await super().validate(request)


@pytest.mark.usefixtures("replay_check")
async def test_urgent_tickets_overtake_earlier_low_ones_on_a_saturated_worker(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    # Urgent tickets go straight out here, so finishing means the same work for both kinds.
    config = fake_routes_config(review=ReviewPolicyConfig(review_urgent=False))
    run = uuid.uuid4().hex[:6]
    low = [make_ticket(ticket_id=f"L{run}-{i}") for i in range(5)]
    urgent = [make_ticket(ticket_id=f"U{run}-{i}") for i in range(3)]
    agents = OneAtATimeAgentsFake(client=client, ticket_ids=[t.ticket_id for t in low + urgent])
    services = FakeTicketServices(config=config)

    workflow_worker = Worker(
        client,
        task_queue=task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[services.load_config, services.search, services.deliver_now],
    )
    delivery_worker = Worker(
        client, task_queue=names.delivery_task_queue(task_queue), activities=[services.deliver]
    )
    async with running([workflow_worker, delivery_worker]):
        # Low tickets first. The first call served waits until every ticket's first call is
        # queued: a backlog before any agent answers.
        handles = [await start_ticket(client, task_queue, t) for t in [*low, *urgent]]
        # One agent call at a time: the agent worker is the bottleneck.
        agent_worker = Worker(
            client,
            task_queue=services.agent_queue,
            activities=agents.activities(),
            max_concurrent_activities=1,
        )
        async with running([agent_worker]):
            views: list[TicketView] = [await h.result() for h in handles]

    assert all(v.state is TicketState.COMPLETED for v in views)
    served = agents.served
    calls = ["classify", "triage", "draft", "validate"]
    for ticket in [*low, *urgent]:  # each ticket's four calls, once each, in its own order
        assert [c for t, c in served if t == ticket.ticket_id] == calls, served
    # The position at which the slot served each ticket's last call (its validation).
    last = {t: i for i, (t, c) in enumerate(served) if c == "validate"}
    last_urgent = max(last[t.ticket_id] for t in urgent)
    first_low = min(last[t.ticket_id] for t in low)
    order = [f"{t}:{c}" for t, c in served]
    assert last_urgent < first_low, f"order the one slot served the calls in: {order}"
