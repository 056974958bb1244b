"""An OpenAI answer whose stream ends badly: after it was whole (its finish reason and usage, the
last chunk before [DONE], had arrived, so the provider billed it) it is used, not asked again;
with an error event, the event's status says what it is, however a compatible server gives it."""

import pytest

from activities.agent_specs import CLASSIFIER
from tests.providers.conftest import MODELS
from tests.providers.fake_stream import PAUSE, RESET, FakeStreamServer, stream_provider
from tests.providers.helpers import classify_request, raised
from tests.providers.test_openai_provider import chunk

MODEL = MODELS["openai"]


async def test_a_whole_answer_whose_connection_resets_before_done_is_used_not_asked_again() -> None:
    # Its finish reason and usage (the last chunk before [DONE]) had arrived: the provider had
    # billed it, and it was thrown away and asked again, billed twice.
    answer = '{"category": "Account", "confidence": 0.9, "rationale": "login"}'
    usage = {"prompt_tokens": 700, "completion_tokens": 20, "total_tokens": 720}
    finished = (
        None,
        {**chunk()[1], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    )
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [
                chunk({"role": "assistant", "content": answer}),
                finished,
                chunk(usage=usage),
                (PAUSE, 0.3),
                (RESET, None),
            ]
        )
        async with stream_provider("openai", fake_stream) as provider:
            reply = await provider.run(CLASSIFIER, classify_request(), MODEL)

    assert reply.output.category == "Account"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (700, 20)
    assert len(fake_stream.requests) == 1


@pytest.mark.parametrize(
    ("error", "kind", "non_retryable"),
    [
        pytest.param(
            {"message": "max_tokens is too large", "type": "BadRequestError", "code": 400},
            "ProviderBadRequest",
            True,
            id="vllm-400",
        ),
        pytest.param(
            {"message": "litellm.RateLimitError: slow down", "type": None, "code": "429"},
            "ProviderRateLimited",
            False,
            id="litellm-429",
        ),
        # A number as the type (the code is text only): an AttributeError no rule classified,
        # counted against the call's other failures, never seen by the breaker.
        pytest.param(
            {"message": "upstream overloaded", "type": 529},
            "ProviderOverloaded",
            False,
            id="type-529-as-a-number",
        ),
    ],
)
async def test_an_error_event_that_gives_its_http_status_as_the_code_is_read_by_it(
    error: dict[str, object], kind: str, non_retryable: bool
) -> None:
    # OpenAI-compatible servers put the HTTP status in the code: both were a server error, the
    # bad request retried (and billed) five times, the rate limit counted as a failure.
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [chunk({"role": "assistant", "content": '{"cat'}), (None, {"error": error})]
        )
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert (err.type, err.non_retryable) == (kind, non_retryable)


async def test_a_stream_cut_after_its_answer_began_reports_what_was_billed() -> None:
    # OpenAI counts a stream's tokens only in its last chunk: a connection broken mid-answer
    # carried no usage, and each retry's prompt and partial answer were billed and counted as
    # nothing (up to ten attempts on a chain's last route). Estimated from the text now.
    partial = '{"category": "Account", "confidence": 0.9, "rationale": "the customer cannot '
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"role": "assistant", "content": partial}), (RESET, None)])
        fake_stream.push([(RESET, None)])  # broken before any answer: nothing billed
        async with stream_provider("openai", fake_stream) as provider:
            cut = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))
            unanswered = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert cut.non_retryable is False
    (usage,) = cut.details
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0 and usage["requests"] == 1
    assert usage["estimated"] is True
    assert unanswered.non_retryable is False and not unanswered.details


async def test_a_stream_refused_as_malformed_mid_answer_reports_what_was_billed() -> None:
    # The stream's own verdict (a chunk that is not JSON) after the answer had begun: the
    # prompt and the partial answer were billed, and the failure carried no usage.
    partial = '{"category": "Account", "confidence": 0.9, "rationale": "the customer cannot '
    with FakeStreamServer() as fake_stream:
        fake_stream.push([chunk({"role": "assistant", "content": partial}), (None, "{not json")])
        async with stream_provider("openai", fake_stream) as provider:
            malformed = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert malformed.type == "ProviderMalformedAnswer", malformed
    (usage,) = malformed.details
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0 and usage["requests"] == 1
    assert usage["estimated"] is True


async def test_an_error_event_after_the_usage_chunk_is_the_error_not_dropped() -> None:
    # docs/providers.md: "An error event there is still the error". After the finish reason and
    # the usage it was swallowed and the answer used.
    answer = '{"category": "Account", "confidence": 0.9, "rationale": "login"}'
    usage = {"prompt_tokens": 700, "completion_tokens": 20, "total_tokens": 720}
    finished = (
        None,
        {**chunk()[1], "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    )
    error = {"message": "upstream failed the request", "type": "server_error", "code": None}
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [
                chunk({"role": "assistant", "content": answer}),
                finished,
                chunk(usage=usage),
                (None, {"error": error}),
            ]
        )
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderUnavailable" and "upstream failed the request" in err.message
    # Billed as the usage chunk said, not estimated.
    [spent] = err.details
    assert (spent["input_tokens"], spent["output_tokens"]) == (700, 20), spent


async def test_a_finish_reason_that_is_not_text_is_a_malformed_answer() -> None:
    # A number there escaped unclassified (a pydantic error building the usage), the usage lost.
    usage = {"prompt_tokens": 700, "completion_tokens": 20, "total_tokens": 720}
    odd = (None, {**chunk()[1], "choices": [{"index": 0, "delta": {}, "finish_reason": 7}]})
    with FakeStreamServer() as fake_stream:
        fake_stream.push(
            [chunk({"role": "assistant", "content": '{"cat'}), odd, chunk(usage=usage)]
        )
        async with stream_provider("openai", fake_stream) as provider:
            err = await raised(provider.run(CLASSIFIER, classify_request(), MODEL))

    assert err.type == "ProviderMalformedAnswer", (err.type, err.message)
