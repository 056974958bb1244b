"""An Anthropic answer whose stream ends badly: used when it was whole (its stop reason and usage
after its last block), and billed when it was not (message_start counts the prompt)."""

import json
from typing import Any

import pytest

from activities.agent_specs import CLASSIFIER
from shared.agents import Classification
from tests.providers.conftest import MODELS
from tests.providers.fake_stream import PAUSE, RESET, FakeStreamServer, stream_provider
from tests.providers.helpers import VALID_CLASSIFICATION, classify_request, raised
from tests.providers.test_anthropic_provider import tool_stream
from tests.providers.test_anthropic_provider_failures import MESSAGE_START

MODEL = MODELS["anthropic"]


@pytest.mark.parametrize("ending", ["closed", "reset"])
async def test_a_whole_answer_whose_stream_ends_before_message_stop_is_used(ending: str) -> None:
    # Some compatible gateways close the connection after message_delta (and a connection can
    # drop right there): the finished, billed answer was thrown away and asked for again.
    answer = tool_stream(json.dumps(VALID_CLASSIFICATION), stop_reason="tool_use")[:-1]
    if ending == "reset":  # (after a pause: a reset discards what the client has not read)
        answer += [(PAUSE, 0.3), (RESET, None)]
    with FakeStreamServer() as fake_stream:
        fake_stream.push(answer)
        async with stream_provider("anthropic", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (120, 40)
    assert len(fake_stream.requests) == 1


async def test_a_stop_reason_before_its_block_stopped_is_still_a_stream_cut_short() -> None:
    answer = tool_stream(json.dumps(VALID_CLASSIFICATION), stop_reason="tool_use")
    without_block_stop = [e for e in answer[:-1] if e[0] != "content_block_stop"]
    with FakeStreamServer() as fake_stream:
        fake_stream.push(without_block_stop)
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.non_retryable, "message_stop" in err.message) == (False, True)


@pytest.mark.parametrize("fault", ["malformed", "block-past-the-limit"])
async def test_a_stream_found_malformed_after_its_prompt_was_counted_reports_what_was_billed(
    fault: str,
) -> None:
    # The stream's own verdicts bypassed the billing of a cut stream: each retry was billed
    # the prompt again and none of it was counted.
    bad: Any = (
        "{not json"
        if fault == "malformed"
        else {
            "type": "content_block_start",
            "index": 10_000,
            "content_block": {"type": "text", "text": ""},
        }
    )
    with FakeStreamServer() as fake_stream:
        fake_stream.push([("message_start", MESSAGE_START), ("content_block_start", bad)])
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    (usage,) = err.details
    assert (usage["input_tokens"], usage["output_tokens"], usage["requests"]) == (100, 1, 1)
