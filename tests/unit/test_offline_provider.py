"""The offline provider answers every agent spec with its output model, labelled offline."""

import pytest
from pydantic import BaseModel

from activities.agent_specs import CLASSIFIER, RESOLVER, SPECS, TRIAGE, VALIDATOR
from activities.providers.base import AgentSpec
from activities.providers.offline import OFFLINE_MODEL, OfflineProvider
from shared.agents import (
    AgentReply,
    AgentRole,
    AgentRoute,
    Category,
    Classification,
    ClassifyRequest,
    Draft,
    DraftRequest,
    KnowledgeArticle,
    Priority,
    TriageRequest,
    ValidateRequest,
)
from shared.orchestration import (
    ContextItem,
    PlanRequest,
    SubTask,
    SynthesisRequest,
    WorkerType,
    WorkRequest,
)
from shared.swarm import InsightRequest, SwarmItem
from shared.tickets import CustomerTier, Ticket

ROUTE = AgentRoute(provider="offline", model=OFFLINE_MODEL)
TICKET = Ticket(
    ticket_id="T-provider",
    subject="Charged twice this month",
    body="My credit card was charged twice for the March subscription. Can you refund one?",
    customer_tier=CustomerTier.PREMIUM,
)
CLASSIFICATION = Classification(
    category=Category.BILLING, confidence=0.95, rationale="Billing cues scored 10"
)
ARTICLE = KnowledgeArticle(
    article_id="KB-203",
    title="Unexpected or duplicate charges",
    category=Category.BILLING,
    answer="If both charges appear as completed, reply with the dates and we will refund one.",
    internal_note="Check the payment processor dashboard for a retried webhook first.",
)


def request_for(role: AgentRole) -> BaseModel:
    if role is AgentRole.CLASSIFIER:
        return ClassifyRequest(ticket=TICKET, route=ROUTE)
    if role is AgentRole.TRIAGE:
        return TriageRequest(ticket=TICKET, classification=CLASSIFICATION, route=ROUTE)
    if role is AgentRole.RESOLVER:
        return DraftRequest(
            ticket=TICKET,
            classification=CLASSIFICATION,
            priority=Priority.HIGH,
            articles=[ARTICLE],
            revision=1,
            route=ROUTE,
        )
    if role is AgentRole.VALIDATOR:
        draft = Draft(
            text="Hello, about the duplicate charge on your card: reply with the dates and we "
            "will refund one of the two charges.",
            cited_articles=["KB-203"],
        )
        return ValidateRequest(
            ticket=TICKET,
            classification=CLASSIFICATION,
            draft=draft,
            articles=[ARTICLE],
            route=ROUTE,
        )
    task = "Compare the refund policy and the cancellation fees for an annual plan."
    if role is AgentRole.PLANNER:
        return PlanRequest(task=task, worker_types=list(WorkerType), max_nodes=8, route=ROUTE)
    if role is AgentRole.WORKER:
        subtask = SubTask(id="research", worker="researcher", instruction="Find the refund policy.")
        return WorkRequest(task=task, subtask=subtask, route=ROUTE)
    if role is AgentRole.SYNTHESIZER:
        result = ContextItem(subtask_id="write", worker="writer", output="Refunds within 30 days.")
        return SynthesisRequest(task=task, results=[result], route=ROUTE)
    assert role is AgentRole.INSIGHTS
    item = SwarmItem(item_id="r1", text="Great kettle, boils fast. The lid feels flimsy though.")
    return InsightRequest(item=item, route=ROUTE)


ALL_SPECS = [pytest.param(spec, id=str(spec.role)) for spec in SPECS.values()]


def test_there_is_a_spec_for_every_agent_role() -> None:
    assert set(SPECS) == set(AgentRole)
    assert all(spec.role is role for role, spec in SPECS.items())


@pytest.mark.parametrize("spec", ALL_SPECS)
async def test_each_spec_gets_its_output_model_with_offline_usage(spec: AgentSpec) -> None:
    request = request_for(spec.role)
    assert isinstance(request, spec.input_model)

    reply = await OfflineProvider().run(spec, request, "")

    assert isinstance(reply, AgentReply)
    assert isinstance(reply.output, spec.output_model)
    usage = reply.usage
    assert usage.provider == "offline"
    assert usage.offline is True
    assert usage.cost_usd == 0
    assert usage.model == OFFLINE_MODEL == "offline-rules-v1"
    assert usage.input_tokens > 0
    assert usage.output_tokens > 0
    assert usage.latency_ms >= 0


@pytest.mark.parametrize("spec", ALL_SPECS)
async def test_the_usage_names_the_model_that_was_asked_for(spec: AgentSpec) -> None:
    reply = await OfflineProvider().run(spec, request_for(spec.role), "offline-rules-v2")

    assert reply.usage.model == "offline-rules-v2"


@pytest.mark.parametrize("spec", ALL_SPECS)
async def test_identical_input_gives_identical_output(spec: AgentSpec) -> None:
    provider = OfflineProvider()

    first = await provider.run(spec, request_for(spec.role), OFFLINE_MODEL)
    second = await provider.run(spec, request_for(spec.role), OFFLINE_MODEL)

    assert first.output == second.output
    assert first.output.model_dump_json() == second.output.model_dump_json()
    assert (first.usage.input_tokens, first.usage.output_tokens) == (
        second.usage.input_tokens,
        second.usage.output_tokens,
    )


async def test_the_offline_answers_follow_the_rules() -> None:
    provider = OfflineProvider()

    classification = await provider.run(CLASSIFIER, request_for(AgentRole.CLASSIFIER), "")
    triage = await provider.run(TRIAGE, request_for(AgentRole.TRIAGE), "")
    draft = await provider.run(RESOLVER, request_for(AgentRole.RESOLVER), "")
    validation = await provider.run(VALIDATOR, request_for(AgentRole.VALIDATOR), "")

    assert classification.output.category is Category.BILLING
    assert triage.output.priority is Priority.HIGH
    assert draft.output.cited_articles == ["KB-203"]
    assert validation.output.approved is True


async def test_the_output_tokens_grow_with_the_output() -> None:
    provider = OfflineProvider()
    short = request_for(AgentRole.RESOLVER)
    assert isinstance(short, DraftRequest)
    # A second article adds a paragraph of further reading to the reply.
    second = ARTICLE.model_copy(
        update={"article_id": "KB-204", "answer": "We accept cards and PayPal. " * 20}
    )
    long = short.model_copy(update={"articles": [ARTICLE, second]})

    short_reply = await provider.run(RESOLVER, short, "")
    long_reply = await provider.run(RESOLVER, long, "")

    assert long_reply.usage.output_tokens > short_reply.usage.output_tokens
