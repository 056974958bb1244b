"""The OpenAI provider against a fake OpenAI server: the real openai SDK over HTTP on 127.0.0.1.
Answers, strict schemas and the repair round; failures and check() are in
test_openai_provider_failures.py."""

import json
from typing import Any

import pytest
from opentelemetry import baggage, context

from activities.agent_specs import CLASSIFIER
from activities.providers.base import AgentSpec
from activities.providers.completion import strict_json_schema
from shared import telemetry
from shared.agents import Classification, Usage
from shared.provider_config import cost_usd, default_prices, default_providers
from shared.view import AgentUsageTotals
from tests.providers.conftest import MODELS, MakeOpenAI
from tests.providers.fake_stream import Event, FakeStreamServer, stream_provider
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
from tests.support.spans import collector

MODEL = MODELS["openai"]
PRICE = default_prices()[MODEL]

# ---- answers -------------------------------------------------------------------------------------


async def test_valid_answer_becomes_the_output_model_with_usage_and_cost(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(
        Reply(output=VALID_CLASSIFICATION, input_tokens=1000, output_tokens=200, cached_tokens=400)
    )

    reply = await make_openai().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    usage = reply.usage
    assert (usage.provider, usage.model) == ("openai", MODEL)
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (1000, 200, 400)
    assert usage.requests == 1
    assert usage.cost_usd == pytest.approx(cost_usd(PRICE, 1000, 200, 400))
    assert usage.cost_usd > 0


async def test_an_answer_streamed_a_token_at_a_time_is_put_back_together(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    # Real models stream about one chunk per token; the chunks are read as the JSON they are.
    fake.push(Reply(output=VALID_CLASSIFICATION, output_tokens=300, pieces=300))

    reply = await make_openai().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert reply.usage.output_tokens == 300


async def test_request_is_a_streamed_chat_completion_with_bearer_key_and_instructions(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION))

    await make_openai().run(CLASSIFIER, classify_request(), MODEL)

    [call] = fake.calls()
    assert call.path == "/v1/chat/completions"
    assert call.headers["authorization"] == f"Bearer {API_KEY}"
    assert call.body["model"] == MODEL
    assert call.body["stream"] is True
    assert call.body["stream_options"] == {"include_usage": True}
    assert call.body["max_completion_tokens"] == default_providers()["openai"].max_output_tokens
    system, user = call.body["messages"]
    assert system == {"role": "system", "content": CLASSIFIER.instructions}
    assert user["role"] == "user"
    assert TICKET.subject in user["content"]
    assert TICKET.body in user["content"]


@pytest.mark.parametrize("spec", ALL_SPECS)
async def test_response_format_is_a_strict_json_schema_with_closed_objects_and_no_defaults(
    fake: FakeLLMServer, make_openai: MakeOpenAI, spec: AgentSpec[Any, Any]
) -> None:
    fake.responder = good_answers

    await make_openai().run(spec, request_for(spec), MODEL)

    response_format = fake.calls()[0].body["response_format"]
    assert response_format["type"] == "json_schema"
    json_schema = response_format["json_schema"]
    assert json_schema["name"] == spec.output_model.__name__
    assert json_schema["strict"] is True
    assert set(json_schema["schema"]["properties"]) == set(spec.output_model.model_fields)
    assert strictness_problems(json_schema["schema"]) == []


async def test_defaults_and_keywords_strict_mode_rejects_never_reach_the_wire(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(Reply(output=VALID_REMINDER))

    reply = await make_openai().run(REMINDER_SPEC, classify_request(), MODEL)

    assert reply.output == Reminder.model_validate(VALID_REMINDER)
    schema = fake.calls()[0].body["response_format"]["json_schema"]["schema"]
    assert strictness_problems(schema) == []
    assert "maxLength" not in json.dumps(schema)
    assert "title" not in json.dumps(schema)
    assert schema["$defs"]["Window"]["properties"]["days"]["minimum"] == 1


async def test_json_object_mode_asks_for_a_json_object_and_puts_the_schema_in_the_system_prompt(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION))

    reply = await make_openai(structured_output="json_object").run(
        CLASSIFIER, classify_request(), MODEL
    )

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    body = fake.calls()[0].body
    assert body["response_format"] == {"type": "json_object"}
    system = body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(CLASSIFIER.instructions)
    assert json.dumps(strict_json_schema(Classification)) in system["content"]


# ---- the repair round ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_answer", "problem"),
    [
        pytest.param("not json", "Invalid JSON", id="not-json"),
        pytest.param(json.dumps(WRONG_CATEGORY), "category", id="schema-violation"),
    ],
)
async def test_invalid_output_gets_one_repair_round_that_tells_the_model_what_was_wrong(
    fake: FakeLLMServer, make_openai: MakeOpenAI, bad_answer: str, problem: str
) -> None:
    fake.push(
        Reply(text=bad_answer, input_tokens=1000, output_tokens=200, cached_tokens=400),
        Reply(
            output=VALID_CLASSIFICATION, input_tokens=1300, output_tokens=150, cached_tokens=1000
        ),
    )

    reply = await make_openai().run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    first, second = fake.calls()
    assert second.body["messages"][:2] == first.body["messages"]
    assistant, repair = second.body["messages"][2:]
    assert assistant == {"role": "assistant", "content": bad_answer}
    assert repair["role"] == "user"
    assert problem in repair["content"]
    usage = reply.usage
    assert usage.requests == 2
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (2300, 350, 1400)
    assert usage.cost_usd == pytest.approx(cost_usd(PRICE, 2300, 350, 1400))


async def test_output_still_invalid_after_the_repair_is_non_retryable_and_carries_the_usage(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    fake.push(
        Reply(text="not json", input_tokens=100, output_tokens=20),
        Reply(output=WRONG_CATEGORY, input_tokens=150, output_tokens=30),
    )

    err = await raised(make_openai().run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "InvalidModelOutput"
    assert err.non_retryable is True
    assert "category" in err.message
    usage = Usage.model_validate(err.details[0])
    assert usage.requests == 2
    assert (usage.provider, usage.model) == ("openai", MODEL)
    assert (usage.input_tokens, usage.output_tokens) == (250, 50)
    assert len(fake.calls()) == 2


def chunk(delta: dict[str, Any] | None = None, usage: dict[str, Any] | None = None) -> Event:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
    data: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": choices,
    }
    if usage is not None:
        data["usage"] = usage
    return (None, data)


USAGE_CHUNK = chunk(usage={"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110})
STOP: Event = (None, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
DONE: Event = (None, "[DONE]")


async def test_refusal_is_treated_as_invalid_output_and_gets_a_repair_round() -> None:
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [chunk({"role": "assistant", "refusal": "I can't help with that."}), STOP, USAGE_CHUNK],
            [chunk({"content": json.dumps(VALID_CLASSIFICATION)}), STOP, USAGE_CHUNK, DONE],
        )
        async with stream_provider("openai", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert reply.usage.requests == 2
    repair = fake_stream.requests[1]["messages"][-1]
    assert repair["role"] == "user"
    assert "I can't help with that." in repair["content"]


async def test_a_stream_cut_short_is_retried_even_when_every_chunk_carried_usage() -> None:
    # Gemini's compatible endpoint sends usage on every chunk: a stream closed cleanly mid-answer
    # (no finish reason, no [DONE]) passed for the model's whole answer, went back for repair
    # (billed twice) and, cut again, failed the call as invalid output for good.
    usage = {"prompt_tokens": 100, "completion_tokens": 3, "total_tokens": 103}
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [
                chunk({"role": "assistant", "content": '{"category": "Acc'}, usage=usage),
                chunk({"content": 'ount", "confid'}, usage=usage),
            ]
        )
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("ProviderConnectionError", False)
    assert len(fake_stream.requests) == 1  # no repair round
    # What it was billed, as the server counted it, goes with the failure.
    spent = Usage.model_validate(err.details[0])
    assert (spent.input_tokens, spent.output_tokens, spent.estimated) == (100, 3, False)


async def test_a_server_that_sends_no_finish_reason_is_whole_when_it_ends_with_done() -> None:
    # A compatible server may leave finish_reason out; [DONE] still says the answer is whole.
    answer = json.dumps(VALID_CLASSIFICATION)
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"role": "assistant", "content": answer}), USAGE_CHUNK, DONE])
        async with stream_provider("openai", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    assert (reply.usage.requests, reply.usage.input_tokens) == (1, 100)


async def test_an_answer_cut_off_at_the_output_limit_gets_no_repair_round() -> None:
    # The same max_completion_tokens would cut the repair off too (and it would carry the cut
    # answer back as input): the fallback route or a person takes the ticket instead.
    cut = json.dumps(VALID_CLASSIFICATION)[:25]
    length = (None, {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"content": cut}), length, USAGE_CHUNK, (None, "[DONE]")])
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("InvalidModelOutput", True)
    assert "output limit" in err.message and "max_output_tokens" in err.message
    usage = Usage.model_validate(err.details[0])
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (1, 100, 10)
    assert usage.finish_reason == "length"
    assert len(fake_stream.requests) == 1


async def test_server_error_event_inside_the_stream_is_retryable() -> None:
    server_error = {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"role": "assistant", "content": '{"cat'}), (None, server_error)])
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.non_retryable is False
    assert err.type == "ProviderUnavailable"


async def test_an_error_event_given_as_a_string_keeps_its_words() -> None:
    # The SDK said "An error occurred during streaming", the proxy's text only in its body.
    with FakeStreamServer() as fake_stream:
        fake_stream.push([(None, {"error": "upstream overloaded, try later"})])
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.non_retryable is False
    assert "upstream overloaded, try later" in err.message


async def test_a_context_length_error_event_inside_the_stream_goes_to_the_next_route() -> None:
    # Not a 500 retried five times: the same prompt is too long for this model every time.
    error = {
        "error": {
            "message": "This model's maximum context length is 8192 tokens",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"role": "assistant", "content": ""}), (None, error)])
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == ("ContextLengthExceeded", True)


async def test_chunks_with_null_fields_and_no_choices_are_read_as_the_api_sends_them() -> None:
    # Compatible servers (vLLM, Ollama) send nulls where OpenAI omits a field, an empty delta
    # with the finish reason, and usage without prompt_tokens_details.
    answer = json.dumps(VALID_CLASSIFICATION)
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [
                chunk({"role": "assistant", "content": None, "refusal": None}),
                chunk({"content": answer[:10]}),
                (None, {"id": "x", "object": "chat.completion.chunk", "choices": None}),
                chunk({"content": answer[10:]}),
                (None, {"choices": [{"index": 0, "delta": None, "finish_reason": "stop"}]}),
                chunk(
                    usage={
                        "prompt_tokens": 70,
                        "completion_tokens": 9,
                        "prompt_tokens_details": None,
                    }
                ),
                (None, "[DONE]"),
            ]
        )
        async with stream_provider("openai", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output == Classification(**VALID_CLASSIFICATION)
    usage = reply.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (70, 9, 0)
    request = fake_stream.requests[0]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}


async def test_a_server_that_sends_no_usage_gets_its_tokens_estimated_not_counted_as_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Some compatible servers ignore include_usage: counted as 0 tokens and $0, every ticket's
    # cost budget would hold nothing back.
    answer = json.dumps(VALID_CLASSIFICATION)
    stop = (None, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    stream = [chunk({"role": "assistant", "content": answer}), stop, (None, "[DONE]")]
    with FakeStreamServer() as fake_stream:
        fake_stream.push(stream, stream)
        async with stream_provider("openai", fake_stream) as provider:
            first = await provider.run(CLASSIFIER, classify_request(), MODEL)
            second = await provider.run(CLASSIFIER, classify_request(), MODEL)

    usage = first.usage
    prompt = "".join(m["content"] for m in fake_stream.requests[0]["messages"])
    assert usage.input_tokens == -(-len(prompt) // 4)
    assert usage.output_tokens == -(-len(answer) // 4)
    assert usage.cost_usd == pytest.approx(
        cost_usd(default_prices()[MODEL], usage.input_tokens, usage.output_tokens, 0)
    )
    assert second.usage.input_tokens == usage.input_tokens
    # ... and said to be estimates where tokens are shown (`~`): they were shown as counted.
    assert usage.estimated and usage.tokens_estimated and not usage.offline
    totals = AgentUsageTotals()
    totals.add(usage)
    assert totals.estimated_tokens == usage.input_tokens + usage.output_tokens
    warnings = [r for r in caplog.records if "sent no usage" in r.getMessage()]
    assert len(warnings) == 1 and MODEL in warnings[0].getMessage()  # once per model


async def test_requests_carry_the_trace_context_of_the_span_they_are_made_in(
    fake: FakeLLMServer, make_openai: MakeOpenAI
) -> None:
    collector()  # the process's tracer provider, as a worker has it
    fake.push(Reply(output=VALID_CLASSIFICATION), Reply(output=VALID_CLASSIFICATION))
    provider = make_openai()

    # Baggage in the context (a caller's free text) is not sent on: trace context only.
    token = context.attach(baggage.set_baggage("customer.email", "ana.lima@example.com"))
    try:
        with telemetry.tracer().start_as_current_span("agent call") as span:
            await provider.run(CLASSIFIER, classify_request(), MODEL)
    finally:
        context.detach(token)
    await provider.run(CLASSIFIER, classify_request(), MODEL)

    inside, outside = fake.calls()
    trace_id = f"{span.get_span_context().trace_id:032x}"
    assert inside.headers["traceparent"].split("-")[1] == trace_id
    assert "baggage" not in inside.headers
    assert "traceparent" not in outside.headers


async def test_stream_that_ends_before_its_finish_reason_is_a_retryable_failure_not_an_answer() -> (
    None
):
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"role": "assistant", "content": '{"categ'})], [])
        async with stream_provider("openai", fake_stream) as provider:
            cut = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))
            empty = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    for err in (cut, empty):
        assert err.non_retryable is False
        assert err.type != "InvalidModelOutput"
        assert "finish reason" in err.message
    assert len(fake_stream.requests) == 2  # no repair round
