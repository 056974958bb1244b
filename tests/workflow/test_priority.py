"""Triage's priority is the Temporal priority key of a ticket's later work: under a backlog, an
Urgent ticket is served before Low ones submitted earlier. On the dev server, whose matcher
honours priority keys (the time-skipping server ignores them)."""

import asyncio
import uuid

import pytest
from temporalio import activity
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
from tests.support.tickets import make_ticket, start_ticket
from tests.support.workers import running
from workflows import ALL_WORKFLOWS

# What one model call takes in this test: long enough that work piles up behind one slot.
MODEL_SECONDS = 0.05


class SlowAgentsByTicketIdFake(FakeAgents):
    """Each call takes MODEL_SECONDS; tickets whose id starts with "U" are Urgent, others Low."""

    @activity.defn(name=names.CLASSIFY_TICKET)
    async def classify(self, request: ClassifyRequest) -> AgentReply[Classification]:
        await asyncio.sleep(MODEL_SECONDS)
        return await super().classify(request)

    @activity.defn(name=names.DRAFT_RESOLUTION)
    async def draft(self, request: DraftRequest) -> AgentReply[Draft]:
        await asyncio.sleep(MODEL_SECONDS)
        return await super().draft(request)

    @activity.defn(name=names.VALIDATE_RESOLUTION)
    async def validate(self, request: ValidateRequest) -> AgentReply[Validation]:
        await asyncio.sleep(MODEL_SECONDS)
        return await super().validate(request)

    @activity.defn(name=names.TRIAGE_TICKET)
    async def triage(self, request: TriageRequest) -> AgentReply[TriageResult]:
        await asyncio.sleep(MODEL_SECONDS)
        urgent = request.ticket.ticket_id.startswith("U")
        priority = Priority.URGENT if urgent else Priority.LOW
        output = TriageResult(priority=priority, rationale=f"fake {priority}")
        return AgentReply[TriageResult](output=output, usage=usage(request))


@pytest.mark.usefixtures("replay_check")
async def test_urgent_tickets_overtake_earlier_low_ones_on_a_saturated_worker(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = dev_env.client
    # Urgent tickets go straight out here, so finishing means the same work for both kinds.
    config = fake_routes_config(review=ReviewPolicyConfig(review_urgent=False))
    agents, services = SlowAgentsByTicketIdFake(), FakeTicketServices(config=config)
    run = uuid.uuid4().hex[:6]
    low = [make_ticket(ticket_id=f"L{run}-{i}") for i in range(5)]
    urgent = [make_ticket(ticket_id=f"U{run}-{i}") for i in range(3)]

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
        # Every ticket is queued before any agent runs: a backlog, Low tickets first.
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
    finished = {v.ticket_id: v.transitions[-1].at for v in views}
    last_urgent = max(finished[t.ticket_id] for t in urgent)
    first_low = min(finished[t.ticket_id] for t in low)
    order = sorted(finished, key=finished.__getitem__)
    assert last_urgent < first_low, f"completion order: {order}"
