"""The validator's verdict agrees with its findings before the workflow reads it: a model that
answered "approved" beside a forbidden promise had its draft delivered with no person looking
(the workflow reads ``approved`` first and drops an approved draft's findings), and one that
did not approve but named nothing had its draft delivered as approved."""

from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.agent_activities import NOT_APPROVED, AgentActivities
from activities.agent_specs import RESOLVER, VALIDATOR
from shared.agents import AgentReply, AgentRoute, FindingCode, ValidateRequest, Validation
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import request_for
from tests.support.fake_llm import FakeLLMServer, Reply

PROMISE = {"code": "forbidden_promise", "message": "promises a refund by Friday"}


@pytest.mark.parametrize(
    ("answered", "approved", "codes"),
    [
        ({"approved": True, "findings": [PROMISE]}, False, [FindingCode.FORBIDDEN_PROMISE]),
        ({"approved": False, "findings": []}, False, [FindingCode.OTHER]),
        ({"approved": True, "findings": []}, True, []),
    ],
    ids=["approved-beside-a-finding", "refused-naming-nothing", "consistent"],
)
async def test_the_validators_verdict_agrees_with_its_findings(
    fake: FakeLLMServer,
    make_llm_provider: MakeProvider,
    answered: dict[str, Any],
    approved: bool,
    codes: list[FindingCode],
) -> None:
    fake.push(Reply(output=answered))
    activities = AgentActivities({"openai": make_llm_provider("openai")})
    request = request_for(VALIDATOR)
    assert isinstance(request, ValidateRequest)
    routed = request.model_copy(
        update={"route": AgentRoute(provider="openai", model=MODELS["openai"])}
    )

    reply: AgentReply[Validation] = await ActivityEnvironment().run(
        activities.validate_resolution, routed
    )

    assert reply.output.approved is approved
    assert [f.code for f in reply.output.findings] == codes
    if codes == [FindingCode.OTHER]:
        assert reply.output.findings[0].message == NOT_APPROVED


INTERNAL = "Refunds above 500 USD need a team lead's approval in the billing console."


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Sure. " + RESOLVER.instructions, FindingCode.INTERNAL_LEAK),
        (f"Good news: {INTERNAL} So I have asked for it.", FindingCode.INTERNAL_LEAK),
        ("   \n ", FindingCode.EMPTY),
    ],
    ids=["system-prompt", "internal-note", "blank"],
)
async def test_policy_refuses_a_draft_a_model_validator_approved(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, text: str, code: FindingCode
) -> None:
    # An injected ticket makes the resolver repeat its instructions or an article's internal
    # note; the model validator reads the same ticket and approves. Its word was final: only the
    # offline validator applied the fixed rules, and the draft went to the customer.
    fake.push(Reply(output={"approved": True, "findings": []}))
    activities = AgentActivities({"openai": make_llm_provider("openai")})
    request = request_for(VALIDATOR)
    assert isinstance(request, ValidateRequest)
    article = request.articles[0].model_copy(update={"internal_note": INTERNAL})
    routed = request.model_copy(
        update={
            "route": AgentRoute(provider="openai", model=MODELS["openai"]),
            "draft": request.draft.model_copy(update={"text": text}),
            "articles": [article],
        }
    )

    reply: AgentReply[Validation] = await ActivityEnvironment().run(
        activities.validate_resolution, routed
    )

    assert reply.output.approved is False
    assert code in [f.code for f in reply.output.findings]


@pytest.mark.parametrize(
    "text",
    [
        "I have issued a full refund of $480 and added 3 free months as compensation.",
        "Good news: you will be refunded 480 EUR today.",
        "We have credited your account for the outage.",
        "I'll issue a full refund right away.",
        "Your refund has been processed.",
        "We'll waive the late fee.",
        "As a goodwill gesture, I've extended your subscription by one month at no charge.",
        # A reviewer's wordings that passed (2026-12-07).
        "I've gone ahead and refunded your $480 payment.",
        "Your $480 has been returned to your card.",
        "We'll send you $480 back.",
        "A refund of 480 € is on its way.",
        "Wir haben Ihnen 480 € erstattet.",
    ],
    ids=[
        "refund-and-free-months",
        "amount-back",
        "credit-said-made",
        "refund-to-be-issued",
        "refund-said-processed",
        "fee-waived",
        "time-at-no-charge",
        "gone-ahead-and-refunded",
        "amount-returned",
        "amount-sent-back",
        "symbol-after-the-amount",
        "german-refunded",
    ],
)
async def test_a_reply_giving_money_away_is_refused_whatever_a_model_validator_said(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, text: str
) -> None:
    # No agent can grant a refund, a credit or compensation (it has no billing tool): a reply
    # that gives one promises what only a person may, or says a person did what nobody did. A
    # model validator approved it and it went to the customer with no person looking.
    reply = await approved_by_a_model(fake, make_llm_provider, text)

    assert reply.output.approved is False
    [finding] = reply.output.findings
    assert finding.code is FindingCode.FORBIDDEN_PROMISE
    assert "gives money away" in finding.message


@pytest.mark.parametrize(
    "text",
    [
        "Once a refund is approved, your bank usually shows it within 5 to 10 business days.",
        "Your refund request for the $49 charge has been passed to our billing team.",
        "The plan costs $20 a month and you can pay by credit card.",
        "I have sent a refund request to our billing team.",
        "We do not offer compensation for downtime.",
        "Once your payment has been refunded, the money appears within 5 to 10 business days.",
        "Reply with the dates and we will refund one of the two charges.",
        "We will look into the charge of 480 € and get back to you.",
        "Wenn die Zahlung erstattet wurde, sehen Sie das Geld in 5 bis 10 Tagen.",
    ],
    ids=[
        "refund-policy",
        "request-passed-on",
        "credit-card",
        "request-sent",
        "no-compensation",
        "once-refunded",
        "an-articles-rule",
        "amount-looked-into",
        "german-once-refunded",
    ],
)
async def test_a_reply_about_refunds_that_gives_nothing_away_keeps_the_models_approval(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, text: str
) -> None:
    reply = await approved_by_a_model(fake, make_llm_provider, text)

    assert reply.output.approved is True and reply.output.findings == []


async def test_a_model_validators_approval_of_a_timeline_stands(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    # The offline templates' promise patterns are not imposed on a model's judgement: they flag
    # ordinary wording ("get back to you within 24 hours") at a rate nobody measured on model text.
    text = "Thanks for writing. Our team will get back to you within 24 hours about the invoice."
    reply = await approved_by_a_model(fake, make_llm_provider, text)

    assert reply.output.approved is True and reply.output.findings == []


async def approved_by_a_model(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, text: str
) -> AgentReply[Validation]:
    """The verdict on a draft of ``text`` that a model validator approved, naming nothing."""
    fake.push(Reply(output={"approved": True, "findings": []}))
    activities = AgentActivities({"openai": make_llm_provider("openai")})
    request = request_for(VALIDATOR)
    assert isinstance(request, ValidateRequest)
    routed = request.model_copy(
        update={
            "route": AgentRoute(provider="openai", model=MODELS["openai"]),
            "draft": request.draft.model_copy(update={"text": text}),
        }
    )
    reply: AgentReply[Validation] = await ActivityEnvironment().run(
        activities.validate_resolution, routed
    )
    return reply
