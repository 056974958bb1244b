"""The Anthropic provider against a fake Anthropic server: the real anthropic SDK over HTTP on
127.0.0.1. Answers, the forced tool and the repair round; failures and check() are in
test_anthropic_provider_failures.py."""

import dataclasses
import itertools
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.agent_specs import CLASSIFIER
from activities.heartbeat import begin_attempt
from activities.providers.base import AgentSpec
from shared.agents import Classification, Usage
from shared.provider_config import cost_usd, default_prices, default_providers
from tests.providers.conftest import MODELS, MakeAnthropic
from tests.providers.fake_stream import PAUSE, Event, FakeStreamServer, stream_provider
from tests.providers.helpers import (
    ALL_SPECS,
    API_KEY,
    REMINDER_SPEC,
    TICKET,
    VALID_CLASSIFICATION,
    VALID_REMINDER,
    WRONG_CATEGORY,
    Reminder,
    classify_request,
    raised,
    request_for,
    strictness_problems,
)
from tests.support.fake_llm import FakeLLMServer, Reply, good_answers

MODEL = MODELS["anthropic"]
PRICE = default_prices()[MODEL]
TOOL = "submit_classification"


# ---- answers -------------------------------------------------------------------------------------


async def test_valid_answer_becomes_the_output_model_with_usage_and_cost(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(
        Reply(output=VALID_CLASSIFICATION, input_tokens=1000, output_tokens=200, cached_tokens=400)
    )

    reply = await make_anthropic().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    usage = reply.usage
    assert (usage.provider, usage.model) == ("anthropic", MODEL)
    # Anthropic reports cache reads apart from input_tokens; usage counts them as input.
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (1000, 200, 400)
    assert usage.requests == 1
    assert usage.cost_usd == pytest.approx(cost_usd(PRICE, 1000, 200, 400))
    assert usage.cost_usd > 0


async def test_a_tool_input_streamed_a_token_at_a_time_is_put_back_together(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION, output_tokens=300, pieces=300))

    reply = await make_anthropic().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert reply.usage.output_tokens == 300


async def test_tool_input_cut_off_at_max_tokens_is_invalid_output_without_a_repair_round() -> None:
    # A repair round would get the same max_tokens and be cut off again, at twice the cost.
    cut = json.dumps(VALID_CLASSIFICATION)[:25]  # the answer ran out of tokens mid-JSON
    with FakeStreamServer() as fake_stream:
        fake_stream.push(tool_stream(cut, stop_reason="max_tokens"))
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("InvalidModelOutput", True)
    assert "output limit" in err.message and "max_output_tokens" in err.message
    usage = Usage.model_validate(err.details[0])
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 120, 40)
    assert len(fake_stream.requests) == 1


async def test_an_answer_the_provider_refused_gets_no_repair_round() -> None:
    # A refusal (Anthropic's stop_reason, OpenAI's content_filter) was sent a repair round that
    # re-sent the whole conversation, billed, to be refused again (a review, 2026-12-07).
    with FakeStreamServer() as fake_stream:
        fake_stream.push(tool_stream("{", stop_reason="refusal"))
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("InvalidModelOutput", True)
    assert "refused the classifier agent's answer (finish reason refusal)" in err.message
    assert Usage.model_validate(err.details[0]).requests == 1
    assert len(fake_stream.requests) == 1


async def test_a_tool_input_that_does_not_match_gets_a_repair_round_with_the_tool_error() -> None:
    wrong = json.dumps({**VALID_CLASSIFICATION, "category": "Weather"})
    answer = json.dumps(VALID_CLASSIFICATION)
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            tool_stream(wrong, stop_reason="tool_use"), tool_stream(answer, stop_reason="tool_use")
        )
        async with stream_provider("anthropic", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert reply.usage.requests == 2
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (2 * 120, 2 * 40)
    assistant, repair = fake_stream.requests[1]["messages"][1:]
    [tool_use] = assistant["content"]
    assert (tool_use["type"], tool_use["id"]) == ("tool_use", "toolu_1")
    [result] = repair["content"]
    assert (result["tool_use_id"], result["is_error"]) == ("toolu_1", True)
    assert "category" in result["content"]


async def test_an_answer_calling_the_tool_twice_gets_a_result_for_each_call_in_the_repair() -> None:
    """A server that called the forced tool twice (the first call invalid): the repair round
    answered the first call only, which the API refuses for good (400), and the ticket failed."""
    wrong = json.dumps({**VALID_CLASSIFICATION, "category": "Weather"})
    answer = json.dumps(VALID_CLASSIFICATION)
    first = tool_stream(wrong, stop_reason="tool_use")
    ends = [e for e in first if e[0] in ("message_delta", "message_stop")]
    second = [
        (kind, {**event, "index": 1} if "index" in event else event)
        for kind, event in tool_stream(answer, stop_reason="tool_use")
        if kind.startswith("content_block")
    ]
    second[0][1]["content_block"] = {**second[0][1]["content_block"], "id": "toolu_2"}
    twice = [e for e in first if e not in ends] + second + ends
    with FakeStreamServer() as fake_stream:
        fake_stream.push(twice, tool_stream(answer, stop_reason="tool_use"))
        async with stream_provider("anthropic", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assistant, repair = fake_stream.requests[1]["messages"][1:]
    calls = [b["id"] for b in assistant["content"] if b["type"] == "tool_use"]
    assert calls == ["toolu_1", "toolu_2"]
    assert [r["tool_use_id"] for r in repair["content"]] == calls


def tool_stream(partial_json: str, stop_reason: str) -> list[Event]:
    """An answer's events as the Messages API streams them, the tool input in 3-byte pieces;
    the final usage arrives in message_delta, with the input counted again."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "usage": {"input_tokens": 120, "output_tokens": 1},
        },
    }
    block = {"type": "tool_use", "id": "toolu_1", "name": TOOL, "input": {}}
    events: list[Event] = [
        ("message_start", start),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
        ("ping", {"type": "ping"}),
    ]
    for i in range(0, len(partial_json), 3):
        delta = {"type": "input_json_delta", "partial_json": partial_json[i : i + 3]}
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    usage = {"input_tokens": 120, "output_tokens": 40}
    return [
        *events,
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": usage},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


async def test_request_is_a_streamed_message_forcing_the_single_submit_tool(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION))

    await make_anthropic().run(CLASSIFIER, classify_request(), MODEL)

    [call] = fake.calls()
    assert call.path == "/v1/messages"
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert "anthropic-version" in call.headers
    body = call.body
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["max_tokens"] == default_providers()["anthropic"].max_output_tokens
    assert body["system"] == CLASSIFIER.instructions
    [user] = body["messages"]
    assert user["role"] == "user"
    assert TICKET.subject in user["content"]
    assert TICKET.body in user["content"]
    [tool] = body["tools"]
    assert tool["name"] == TOOL
    assert body["tool_choice"] == {"type": "tool", "name": TOOL, "disable_parallel_tool_use": True}


@pytest.mark.parametrize("spec", ALL_SPECS)
async def test_tool_input_schema_is_the_output_model_with_closed_objects_and_no_defaults(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic, spec: AgentSpec[Any, Any]
) -> None:
    fake.responder = good_answers

    reply = await make_anthropic().run(spec, request_for(spec), MODEL)

    assert isinstance(reply.output, spec.output_model)
    [tool] = fake.calls()[0].body["tools"]
    assert fake.calls()[0].output_name == spec.output_model.__name__
    assert set(tool["input_schema"]["properties"]) == set(spec.output_model.model_fields)
    assert strictness_problems(tool["input_schema"]) == []


async def test_tool_schema_drops_defaults_and_keywords_strict_schemas_reject(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(Reply(output=VALID_REMINDER))

    reply = await make_anthropic().run(REMINDER_SPEC, classify_request(), MODEL)

    assert reply.output == Reminder.model_validate(VALID_REMINDER)
    [tool] = fake.calls()[0].body["tools"]
    assert tool["name"] == "submit_reminder"
    assert strictness_problems(tool["input_schema"]) == []
    assert "maxLength" not in json.dumps(tool["input_schema"])


# ---- the repair round ----------------------------------------------------------------------------


async def test_tool_input_that_violates_the_schema_is_answered_with_an_error_tool_result(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(
        Reply(output=WRONG_CATEGORY, input_tokens=1000, output_tokens=200, cached_tokens=400),
        Reply(
            output=VALID_CLASSIFICATION, input_tokens=1300, output_tokens=150, cached_tokens=1000
        ),
    )

    reply = await make_anthropic().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    first, second = fake.calls()
    assert second.body["messages"][:1] == first.body["messages"]
    assistant, repair = second.body["messages"][1:]
    assert assistant["role"] == "assistant"
    [tool_use] = assistant["content"]
    assert (tool_use["type"], tool_use["name"]) == ("tool_use", TOOL)
    assert tool_use["input"] == WRONG_CATEGORY
    assert repair["role"] == "user"
    [result] = repair["content"]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == tool_use["id"]
    assert result["is_error"] is True
    assert "category" in result["content"]
    usage = reply.usage
    assert usage.requests == 2
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (2300, 350, 1400)
    assert usage.cost_usd == pytest.approx(cost_usd(PRICE, 2300, 350, 1400))


async def test_text_answer_without_the_tool_call_gets_a_text_repair_round(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(
        Reply(text="It looks like an account problem to me."),
        Reply(output=VALID_CLASSIFICATION),
    )

    reply = await make_anthropic().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert reply.usage.requests == 2
    assistant, repair = fake.calls()[1].body["messages"][1:]
    assert [block["type"] for block in assistant["content"]] == ["text"]
    assert assistant["content"][0]["text"] == "It looks like an account problem to me."
    [instruction] = repair["content"]
    assert instruction["type"] == "text"  # no tool_use to answer, so no tool_result
    assert f"no {TOOL} tool call" in instruction["text"]


async def test_output_still_invalid_after_the_repair_is_non_retryable_and_carries_the_usage(
    fake: FakeLLMServer, make_anthropic: MakeAnthropic
) -> None:
    fake.push(
        Reply(text="Account, I think.", input_tokens=100, output_tokens=20),
        Reply(output=WRONG_CATEGORY, input_tokens=150, output_tokens=30),
    )

    err = await raised(make_anthropic().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "InvalidModelOutput"
    assert err.non_retryable is True
    assert "category" in err.message
    usage = Usage.model_validate(err.details[0])
    assert usage.requests == 2
    assert (usage.provider, usage.model) == ("anthropic", MODEL)
    assert (usage.input_tokens, usage.output_tokens) == (250, 50)
    assert len(fake.calls()) == 2


async def test_pings_while_a_tool_input_is_buffered_keep_the_attempt_alive() -> None:
    # Anthropic streams a tool's input a whole key and value at a time: a long draft's text
    # comes after seconds of pings only, longer than the heartbeat timeout.
    timeout = 2.4
    answer = json.dumps(VALID_CLASSIFICATION)
    events = tool_stream(answer, stop_reason="tool_use")
    waiting = [(PAUSE, 0.4), ("ping", {"type": "ping"})] * 8  # 3.2 s, longer than the timeout
    events[2:2] = waiting  # after content_block_start, before the input arrives
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, heartbeat_timeout=timedelta(seconds=timeout))
    started = time.monotonic()
    beats: list[float] = []
    env.on_heartbeat = lambda *_: beats.append(time.monotonic() - started)

    with FakeStreamServer() as fake_stream:
        fake_stream.push(events)
        async with stream_provider("anthropic", fake_stream) as provider:

            async def attempt() -> Classification:
                begin_attempt()
                return (await provider.run(CLASSIFIER, classify_request(), MODEL)).output

            output = await env.run(attempt)
    ended = time.monotonic() - started

    assert output == Classification(**VALID_CLASSIFICATION)
    marks = [0.0, *beats, ended]
    assert max(b - a for a, b in itertools.pairwise(marks)) < timeout


async def test_pings_while_a_tool_input_is_buffered_are_progress_for_the_provider_timeout() -> None:
    # The SDK drops pings before the stream's reader sees them: the provider's idle timeout
    # (timeout_seconds) ended the attempt as "the response stopped arriving" while they kept
    # coming, and every retry the same way (billed each time).
    events = tool_stream(json.dumps(VALID_CLASSIFICATION), stop_reason="tool_use")
    events[2:2] = [(PAUSE, 0.4), ("ping", {"type": "ping"})] * 8  # 3.2 s of pings only

    with FakeStreamServer() as fake_stream:
        fake_stream.push(events)
        async with stream_provider("anthropic", fake_stream, timeout_seconds=2.0) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert len(fake_stream.requests) == 1


async def test_a_tool_input_with_a_lone_surrogate_fails_as_invalid_output_with_its_usage() -> None:
    # JSON's \ud83d alone parses; the repair turn that carries it back could not be encoded, and
    # the SDK's UnicodeEncodeError escaped unclassified, the first answer's tokens with it.
    with FakeStreamServer() as fake_stream:
        fake_stream.push(tool_stream('{"category": "\\ud83d"}', "tool_use"))
        async with stream_provider("anthropic", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("InvalidModelOutput", True)
    assert "not valid Unicode (a lone surrogate)" in err.message
    [usage] = err.details
    assert (usage["input_tokens"], usage["output_tokens"], usage["requests"]) == (120, 40, 1)
    assert len(fake_stream.requests) == 1  # no repair request could be sent


async def test_a_server_that_sends_no_usage_gets_its_tokens_estimated_as_openai_s_do(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A compatible server whose events carry no usage: counted as 0 tokens and $0, a cost or
    # token budget held nothing back on this provider (the OpenAI provider estimated them).
    events = [
        (name, {k: v for k, v in event.items() if k != "usage"})
        for name, event in tool_stream(json.dumps(VALID_CLASSIFICATION), "tool_use")
    ]
    events[0][1]["message"].pop("usage", None)
    with FakeStreamServer() as fake_stream:
        fake_stream.push(events)
        async with stream_provider("anthropic", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    usage = reply.usage
    prompt = CLASSIFIER.instructions + fake_stream.requests[0]["messages"][0]["content"]
    assert usage.input_tokens == -(-len(prompt) // 4)
    assert usage.output_tokens == -(-len(json.dumps(VALID_CLASSIFICATION)) // 4)
    assert usage.estimated and usage.cost_usd > 0
    assert any("sent no usage" in r.getMessage() for r in caplog.records)
