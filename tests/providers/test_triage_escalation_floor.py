"""A model's triage gets the escalation rules' floor: a ticket a person must answer (an account
taken over, a payment the customer did not make, a lawyer or a court) is Urgent, whatever the
model said, so it is reviewed (review_urgent). The offline triage applied these rules; a model's
"High" for a legal threat sent the answer with no person looking."""

import pytest
from temporalio.testing import ActivityEnvironment

from activities.agent_activities import RAISED_TO_URGENT, AgentActivities
from activities.agent_specs import TRIAGE
from activities.providers.offline import OfflineProvider
from shared.agents import AgentReply, AgentRoute, Priority, TriageRequest, TriageResult
from shared.pipeline_config import OFFLINE_ROUTE
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import request_for
from tests.support.fake_llm import FakeLLMServer, Reply

ANSWER = {
    "priority": "High",
    "rationale": "a billing problem",
    "cues": ["charged"],
    "complex": False,
}


async def _triage(fake: FakeLLMServer, make_llm_provider: MakeProvider, body: str) -> TriageResult:
    fake.push(Reply(output=ANSWER))
    activities = AgentActivities({"openai": make_llm_provider("openai")})
    request = request_for(TRIAGE)
    assert isinstance(request, TriageRequest)
    routed = request.model_copy(
        update={
            "route": AgentRoute(provider="openai", model=MODELS["openai"]),
            "ticket": request.ticket.model_copy(update={"body": body}),
        }
    )
    reply: AgentReply[TriageResult] = await ActivityEnvironment().run(
        activities.triage_ticket, routed
    )
    return reply.output


@pytest.mark.parametrize(
    ("body", "cue"),
    [
        ("I was charged twice. If this is not refunded my lawyer will be in touch.", "my lawyer"),
        ("There are charges on my card I did not authorise last week.", "did not authorise"),
        ("Someone logged into my account and changed my e-mail address.", "someone logged in"),
    ],
    ids=["legal", "payment-not-made", "account-taken-over"],
)
async def test_a_ticket_a_person_must_answer_is_urgent_whatever_the_model_said(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, body: str, cue: str
) -> None:
    triage = await _triage(fake, make_llm_provider, body)

    assert triage.priority is Priority.URGENT
    assert triage.rationale == "a billing problem" + RAISED_TO_URGENT
    assert cue in triage.cues[0] and triage.cues[-1] == "charged"


async def test_a_ticket_without_such_a_cue_keeps_the_models_priority(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    triage = await _triage(fake, make_llm_provider, "I was charged twice for March, please help.")

    assert triage.model_dump(mode="json") == ANSWER


@pytest.mark.parametrize(
    "body",
    [
        # A short line after a sign-off reads as part of the name block.
        "I need to reset my password.\n\nBest,\nAnna\nSomeone else has logged into my account",
        # Everything after a signature marker.
        "The invoice shows the wrong VAT rate.\n--\nI will take you to court over this",
    ],
    ids=["after-a-sign-off", "after-a-signature-marker"],
)
async def test_the_offline_triage_heeds_a_cue_in_what_trimming_cut_for_the_agents(
    body: str,
) -> None:
    # The offline triage read the body trimmed for the agents, and the floor was a model's
    # only: a threat or a takeover in what trimming cut reached no person.
    activities = AgentActivities({OFFLINE_ROUTE.provider: OfflineProvider()})
    request = request_for(TRIAGE)
    assert isinstance(request, TriageRequest)
    routed = request.model_copy(
        update={
            "route": OFFLINE_ROUTE,
            "ticket": request.ticket.model_copy(update={"subject": "Question", "body": body}),
        }
    )
    reply: AgentReply[TriageResult] = await ActivityEnvironment().run(
        activities.triage_ticket, routed
    )

    assert reply.output.priority is Priority.URGENT, reply.output
