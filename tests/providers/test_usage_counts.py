"""Usage counts as a provider or a compatible server sends them, over HTTP through the real SDKs:
a negative, absurd or non-numeric count is no count. A gateway's ``"prompt_tokens": -1`` failed
every workflow task of its ticket where the worker exports metrics (a counter refuses a negative
value, in workflow code), and priced the call below nothing."""

import json

import pytest

from activities.agent_specs import CLASSIFIER
from activities.providers.completion import MAX_TOKENS_PER_CALL, token_count
from tests.providers.conftest import MODELS
from tests.providers.fake_stream import FakeStreamServer, stream_provider
from tests.providers.helpers import VALID_CLASSIFICATION, classify_request
from tests.providers.test_anthropic_provider import tool_stream
from tests.providers.test_openai_provider import chunk


@pytest.mark.parametrize(
    ("given", "count"),
    [(12, 12), ("12", 12), (-1, 0), (0, 0), (None, 0), ("lots", 0), (True, 0), (float("nan"), 0),
     (10**400, MAX_TOKENS_PER_CALL), (3.0, 3)],
)  # fmt: skip
def test_a_usage_count_is_a_count(given: object, count: int) -> None:
    assert token_count(given) == count


async def test_an_openai_compatible_server_reporting_negative_tokens_is_counted_as_none() -> None:
    usage = {
        "prompt_tokens": -1,
        "completion_tokens": 10**30,
        "prompt_tokens_details": {"cached_tokens": -7},
    }
    answer = chunk({"role": "assistant", "content": json.dumps(VALID_CLASSIFICATION)})
    finished = (
        None,
        {**chunk()[1], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    )
    with FakeStreamServer() as fake_stream:
        fake_stream.push([answer, finished, chunk(usage=usage), (None, "[DONE]")])
        async with stream_provider("openai", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODELS["openai"])

    usage_seen = reply.usage
    assert (usage_seen.input_tokens, usage_seen.cached_tokens) == (0, 0)
    assert usage_seen.output_tokens == MAX_TOKENS_PER_CALL
    assert usage_seen.cost_usd >= 0


async def test_an_anthropic_compatible_server_reporting_negative_tokens_is_counted_as_none() -> (
    None
):
    events = tool_stream(json.dumps(VALID_CLASSIFICATION), stop_reason="tool_use")
    start = events[0][1]
    start["message"]["usage"] = {"input_tokens": -500, "output_tokens": 1}
    delta = next(e for e in events if e[0] == "message_delta")[1]
    delta["usage"] = {"input_tokens": -500, "output_tokens": -40}
    with FakeStreamServer() as fake_stream:
        fake_stream.push(events)
        async with stream_provider("anthropic", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODELS["anthropic"])

    # No count it sent is one: the call is estimated from its text, as one with no usage is.
    assert reply.usage.tokens_estimated
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.usage.cost_usd >= 0
