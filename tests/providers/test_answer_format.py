"""A 200 answer in JSON to a streamed request, on both providers and both HTTP transports,
against a raw server: a gateway's error sent with status 200, and a whole answer from a server
that ignores streaming. Each was read as a stream with no event in it: "the answer's stream
ended early", a retryable connection failure tried five times (each a whole answer billed, its
usage lost) with the server's words dropped."""

import json
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.answer_format import (
    BYTES_PER_CHUNK,
    MALFORMED_TYPE,
    NOT_STREAMING_TYPE,
    tokens_of,
)
from activities.providers.completion import MAX_TOKENS_PER_CALL
from activities.providers.errors import RATE_LIMITED_TYPE
from tests.providers.conftest import MakeProvider
from tests.providers.raw_http import STREAM_HEAD, chunk, raw_server
from tests.providers.test_transport_failures import KINDS, build, call

WHOLE_ANSWERS = {
    "openai": {
        "id": "c",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    },
    "anthropic": {
        "id": "msg",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "{}"}],
        "usage": {"input_tokens": 120, "output_tokens": 30},
    },
}


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def json_200(body: Any) -> list[bytes | float]:
    data = json.dumps(body).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return [head % len(data) + data]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("error", "said", "expected"),
    [
        # Named by the API: classified as its status is.
        (
            {"code": "model_not_found", "message": "The model gpt-x does not exist"},
            "The model gpt-x does not exist (model_not_found)",
            ("ProviderNotFound", True),
        ),
        # A rate limit waits and is tried again, as a 429 is: it failed the route for good.
        (
            {"code": "rate_limit_exceeded", "message": "Slow down"},
            "Slow down (rate_limit_exceeded)",
            (RATE_LIMITED_TYPE, False),
        ),
        ({"code": "503", "message": "Busy"}, "Busy (503)", ("ProviderUnavailable", False)),
        # Named by nothing the API documents: for good, with its words.
        (
            {"code": "gateway_said_no", "message": "No"},
            "No (gateway_said_no)",
            (NOT_STREAMING_TYPE, True),
        ),
    ],
    ids=["not-found", "rate-limited", "unavailable", "unknown"],
)
async def test_a_gateway_s_error_sent_with_200_is_classified_as_its_code_says_with_its_words(
    make_llm_provider: MakeProvider,
    kind: str,
    transport: str,
    error: dict[str, str],
    said: str,
    expected: tuple[str, bool],
) -> None:
    body = {"error": error}
    async with raw_server(lambda path: json_200(body), then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, kind, url, transport), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == expected
    assert "answered 200 with an error instead of the stream it was asked for" in err.message
    assert said in err.message


@pytest.mark.parametrize("kind", KINDS)
async def test_a_whole_answer_from_a_server_that_does_not_stream_is_billed_and_not_retried(
    make_llm_provider: MakeProvider, kind: str, transport: str
) -> None:
    async with raw_server(lambda path: json_200(WHOLE_ANSWERS[kind]), then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, kind, url, transport), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (NOT_STREAMING_TYPE, True)
    assert "a whole JSON answer, not the stream it was asked for" in err.message
    [usage] = err.details
    assert (usage["input_tokens"], usage["output_tokens"], usage["requests"]) == (120, 30, 1)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_json_body_that_does_not_parse_is_named_not_taken_for_a_cut_stream(
    make_llm_provider: MakeProvider, kind: str, transport: str
) -> None:
    def script(path: str) -> list[bytes | float]:
        return [
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 3\r\n\r\n{{{"
        ]

    async with raw_server(script, then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, kind, url, transport), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (NOT_STREAMING_TYPE, True)
    assert "neither a stream nor JSON" in err.message


def stream_of(*events: bytes) -> list[bytes | float]:
    return [STREAM_HEAD + b"".join(chunk(e) for e in events) + chunk(b"")]


# Events a proxy or a compatible server sent that are not the API's: each escaped unclassified
# (JSONDecodeError, AttributeError, TypeError), and the ticket's reason named only the class.
MALFORMED = {
    "data that is not JSON": b"data: upstream error\n\n",
    "usage of the wrong type": b'data: {"id": "c", "choices": [], "usage": "n/a"}\n\n',
    "a choice that is not an object": b'data: {"id": "c", "choices": ["x"]}\n\n',
    "content as a list": (
        b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": ["a"]}}]}\n\n'
        b'data: {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
    ),
}


@pytest.mark.parametrize("event", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_stream_not_in_the_api_s_format_is_a_classified_retryable_failure(
    make_llm_provider: MakeProvider, transport: str, event: bytes
) -> None:
    async with raw_server(lambda path: stream_of(event), then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, "openai", url, transport), "openai")

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (MALFORMED_TYPE, False)
    assert err.message.startswith("openai sent an answer that is not in its API's format (")


async def test_an_anthropic_event_that_is_not_json_is_classified_too(
    make_llm_provider: MakeProvider, transport: str
) -> None:
    event = b"event: message_start\ndata: upstream error\n\n"
    async with raw_server(lambda path: stream_of(event), then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, "anthropic", url, transport), "anthropic")

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (MALFORMED_TYPE, False)


# JSON nested 100,000 deep: json.loads raised RecursionError, which escaped unclassified.
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("kind", "events"),
    [
        ("openai", [b"data: " + DEEP + b"\n\n"]),
        ("anthropic", [b"event: message_start\ndata: " + DEEP + b"\n\n"]),
        (
            # A block index of a billion: the message filled a list up to it (60 GB), taking the
            # worker's memory; every retry on every worker did the same.
            "anthropic",
            [
                b"event: message_start\n"
                b'data: {"type": "message_start", "message": {"usage": {}}}\n\n',
                b"event: content_block_start\n"
                b'data: {"type": "content_block_start", "index": 1000000000, '
                b'"content_block": {"type": "text", "text": ""}}\n\n',
            ],
        ),
    ],
    ids=["openai-deep-json", "anthropic-deep-json", "anthropic-block-index"],
)
async def test_an_event_nested_too_deep_or_indexed_too_far_is_a_classified_failure(
    make_llm_provider: MakeProvider, transport: str, kind: str, events: list[bytes]
) -> None:
    async with raw_server(lambda path: stream_of(*events), then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, kind, url, transport), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (MALFORMED_TYPE, False)


# The providers' default (shared/provider_config.py), which the test's providers keep.
MAX_OUTPUT_TOKENS = 2048


@pytest.mark.parametrize("kind", KINDS)
async def test_an_answer_streamed_past_the_tokens_the_request_allowed_is_cut_and_not_retried(
    make_llm_provider: MakeProvider, transport: str, kind: str
) -> None:
    # A server that does not keep to max_tokens was read until the attempt's timeout, the text
    # held in memory, then retried. The provider asks for its max_output_tokens: past 4 chunks
    # a token (and 1,000 to spare), it is cut.
    piece = (
        b'data: {"id": "c", "choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n'
        if kind == "openai"
        else b"event: content_block_delta\ndata: "
        b'{"type": "content_block_delta", "index": 0, '
        b'"delta": {"type": "text_delta", "text": "a"}}\n\n'
    )
    start = (
        b""
        if kind == "openai"
        else b"event: message_start\n"
        b'data: {"type": "message_start", "message": {"usage": {}}}\n\n'
        b"event: content_block_start\n"
        b'data: {"type": "content_block_start", "index": 0, '
        b'"content_block": {"type": "text", "text": ""}}\n\n'
    )
    limit = MAX_OUTPUT_TOKENS * 4 + 1_000
    events = [start, *([piece] * (limit + 10))] if start else [piece] * (limit + 10)
    async with raw_server(lambda path: stream_of(*events), then_wait=False) as url:
        provider = build(make_llm_provider, kind, url, transport)
        assert provider.config.max_output_tokens == MAX_OUTPUT_TOKENS
        err, _ = await call(provider, kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (MALFORMED_TYPE, True)
    assert f"more than {limit:,} chunks" in err.message


# A small max_tokens (a megabyte's byte limit): read well within the idle watch's seconds,
# which end a stream with no whole event (a ProviderTimeout) on a busy machine.
SMALL_MAX_TOKENS = 16
SMALL_BYTE_LIMIT = (SMALL_MAX_TOKENS * 4 + 1_000) * BYTES_PER_CHUNK


async def cut_at_the_byte_limit(
    make_llm_provider: MakeProvider, kind: str, transport: str, writes: list[bytes | float]
) -> str:
    """A provider asking for SMALL_MAX_TOKENS against a server writing ``writes``: its call
    fails for good, past SMALL_BYTE_LIMIT; the failure's message."""
    async with raw_server(lambda path: writes, then_wait=False) as url:
        provider = build(make_llm_provider, kind, url, transport)
        small = provider.config.model_copy(update={"max_output_tokens": SMALL_MAX_TOKENS})
        provider = type(provider)(kind, small, "sk-test-secret-123456", provider._prices)
        err, _ = await call(provider, kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert (err.type, err.non_retryable) == (MALFORMED_TYPE, True)
    return err.message


@pytest.mark.parametrize("kind", KINDS)
async def test_one_event_that_never_ends_is_cut_at_the_bytes_the_request_allows(
    make_llm_provider: MakeProvider, transport: str, kind: str
) -> None:
    # The SDKs' SSE decoders gather an event's bytes until its blank line: a server sending
    # bytes without one was held in the worker's memory however many, until the attempt's
    # timeout (the chunk count never grew: no event ended).
    piece = b"x" * (64 * 1024)
    pieces = [chunk(b"data: ")] + [chunk(piece)] * (SMALL_BYTE_LIMIT // len(piece) + 2)
    said = await cut_at_the_byte_limit(make_llm_provider, kind, transport, [STREAM_HEAD, *pieces])
    assert f"streamed more than {SMALL_BYTE_LIMIT:,} bytes" in said


@pytest.mark.parametrize("kind", KINDS)
async def test_a_compressed_event_that_never_ends_is_cut_at_its_decoded_bytes(
    make_llm_provider: MakeProvider, transport: str, kind: str
) -> None:
    # Counted as it came (compressed), a gzip stream of zeros passed a 1 MiB limit with 200 MB
    # decoded into the SDK's event decoder.
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip
    body = packer.compress(b"data: " + b"0" * (SMALL_BYTE_LIMIT * 4)) + packer.flush()
    assert len(body) < SMALL_BYTE_LIMIT // 100
    head = STREAM_HEAD.replace(b"\r\n\r\n", b"\r\ncontent-encoding: gzip\r\n\r\n")
    writes: list[bytes | float] = [head, chunk(body), chunk(b"")]
    said = await cut_at_the_byte_limit(make_llm_provider, kind, transport, writes)
    assert f"streamed more than {SMALL_BYTE_LIMIT:,} bytes" in said


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"),
        (
            422,
            "application/json",
            json.dumps(
                {"detail": [{"loc": ["body"], "msg": "bad", "input": "CUSTOMER-TEXT-42"}]}
            ).encode(),
        ),
    ],
    ids=["html-502", "validation-422-echoing-input"],
)
async def test_an_error_body_not_in_the_api_s_shape_is_not_the_reason(
    make_llm_provider: MakeProvider, kind: str, status: int, content_type: str, body: bytes
) -> None:
    # The anthropic SDK's message was the whole body: a proxy's HTML page as the ticket's
    # reason, or the request's echoed input (customer text) in the error and the history.
    head = b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
    response = head % (status, content_type.encode(), len(body)) + body
    async with raw_server(lambda path: [response], then_wait=False) as url:
        err, _ = await call(build(make_llm_provider, kind, url, "aiohttp"), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert f"Error code: {status}" in err.message
    assert "CUSTOMER-TEXT-42" not in err.message and "<html>" not in err.message


@pytest.mark.parametrize(
    ("usage", "counted"),
    [
        ({"prompt_tokens": 120, "completion_tokens": 30}, (120, 30)),
        ({"input_tokens": 120, "output_tokens": 30}, (120, 30)),
        # As a stream's counts are read: a boolean is no count, one past any call's size is
        # that size (a server's 10**20 billed the ticket about $8e14), a negative one is 0.
        ({"prompt_tokens": True, "completion_tokens": 10**20}, (0, MAX_TOKENS_PER_CALL)),
        ({"prompt_tokens": -5, "completion_tokens": 30}, (0, 30)),
    ],
)
def test_a_whole_answers_usage_is_counted_as_a_streams_is(
    usage: dict[str, Any], counted: tuple[int, int]
) -> None:
    completion = tokens_of({"usage": usage})
    assert completion is not None
    assert (completion.input_tokens, completion.output_tokens) == counted
