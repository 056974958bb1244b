"""An answer whose text is blank (spaces, line breaks, a zero-width space) meets the schema's
min_length: it gets the repair round a schema error gets, not a trip through the validator (which
finds it empty and costs a revision round: two more calls)."""

import pytest
from temporalio.exceptions import ApplicationError

from activities.agent_specs import RESOLVER, SYNTHESIZER
from shared.orchestration import ContextItem, SynthesisRequest
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import request_for
from tests.support.fake_llm import FakeLLMServer, Reply

BLANK = " \n\u200b\t"
DRAFT = {"text": "Use the reset link on the sign-in page.", "cited_articles": ["KB-101"]}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_blank_draft_gets_a_repair_round_that_says_so(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str
) -> None:
    fake.push(Reply(output={"text": BLANK, "cited_articles": []}), Reply(output=DRAFT))

    reply = await make_llm_provider(kind).run(RESOLVER, request_for(RESOLVER), MODELS[kind])

    assert reply.output.text == DRAFT["text"]
    assert reply.usage.requests == 2
    repair = str(fake.calls()[-1].body["messages"][-1])
    assert "'text' is blank" in repair


async def test_a_synthesis_blank_twice_fails_as_invalid_output(
    fake: FakeLLMServer, make_llm_provider: MakeProvider
) -> None:
    fake.push(Reply(output={"answer": BLANK}), Reply(output={"answer": "\n\n"}))
    request = SynthesisRequest(
        task="t", results=[ContextItem(subtask_id="a", worker="w", output="c")]
    )

    with pytest.raises(ApplicationError) as raised:
        await make_llm_provider("openai").run(SYNTHESIZER, request, MODELS["openai"])

    assert raised.value.type == "InvalidModelOutput" and raised.value.non_retryable
    assert "'answer' is blank" in raised.value.message
