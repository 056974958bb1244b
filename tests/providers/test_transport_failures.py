"""Failures below the SDKs' error classes, on both HTTP transports, against a raw server: each
ends as a classified, retryable provider failure within the provider's timeout, never as an
unclassified exception or a read that waits for ever."""

import asyncio
import time
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from temporalio.exceptions import ApplicationError

from activities.agent_specs import CLASSIFIER
from activities.providers.errors import ProviderCheckError
from activities.providers.http_client import socks_proxy_in_environment
from activities.providers.idle_watch import idle_limit
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import VALID_CLASSIFICATION, classify_request
from tests.providers.raw_http import (
    ANTHROPIC_FIRST,
    OPENAI_FIRST,
    STREAM_HEAD,
    chunk,
    raw_server,
)
from tests.support.fake_llm import FakeLLMServer, Reply

KINDS = ["openai", "anthropic"]
TIMEOUT_SECONDS = 1.0
# Far above the provider's timeout: reaching it means the read never ended.
GIVE_UP_SECONDS = 20.0


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def base_url(kind: str, url: str) -> str:
    return f"{url}/v1" if kind == "openai" else url


def first_chunk(path: str) -> bytes:
    return ANTHROPIC_FIRST if path.endswith("/messages") else OPENAI_FIRST


def build(make: Any, kind: str, url: str, transport: str) -> Any:
    provider = make(kind)
    settings = provider.config.model_copy(
        update={
            "base_url": base_url(kind, url),
            "timeout_seconds": TIMEOUT_SECONDS,
            "http_transport": transport,
        }
    )
    return type(provider)(kind, settings, "sk-test-secret-123456", provider._prices)


async def call(provider: Any, kind: str) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(
            provider.run(CLASSIFIER, classify_request(), MODELS[kind]), GIVE_UP_SECONDS
        )
    except BaseException as err:  # the test looks at what came out
        return err, time.monotonic() - started
    finally:
        await provider.aclose()
    return None, time.monotonic() - started


CLIENT_CLASSES = {
    ("openai", "aiohttp"): openai.DefaultAioHttpClient,
    ("openai", "httpx"): openai.DefaultAsyncHttpxClient,
    ("anthropic", "aiohttp"): anthropic.DefaultAioHttpClient,
    ("anthropic", "httpx"): anthropic.DefaultAsyncHttpxClient,
}


@pytest.mark.parametrize("kind", KINDS)
async def test_the_configured_http_transport_carries_the_call(
    fake: FakeLLMServer, make_llm_provider: MakeProvider, kind: str, transport: str
) -> None:
    fake.push(Reply(output=VALID_CLASSIFICATION))
    provider = make_llm_provider(kind)

    reply = await provider.run(CLASSIFIER, classify_request(), MODELS[kind])

    assert reply.output.model_dump(mode="json") == VALID_CLASSIFICATION
    assert isinstance(provider._client._client, CLIENT_CLASSES[(kind, transport)])
    assert len(fake.requests) == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_stream_broken_off_by_a_malformed_chunk_ends_within_the_timeout(
    make_llm_provider: MakeProvider, kind: str, transport: str
) -> None:
    # A proxy that mangles a chunk and keeps the connection open. aiohttp's C parser drops its
    # read timer on it: without the provider's own idle limit the read waited for ever.
    def script(path: str) -> list[bytes | float]:
        # The bad chunk after the first has been read, as a proxy's would come.
        return [STREAM_HEAD + chunk(first_chunk(path)), 0.3, b"zz\r\n"]

    async with raw_server(script, then_wait=True) as url:
        err, took = await call(build(make_llm_provider, kind, url, transport), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert err.type in ("ProviderTimeout", "ProviderConnectionError")
    assert err.non_retryable is False
    assert took < TIMEOUT_SECONDS + 5


@pytest.mark.parametrize("kind", KINDS)
async def test_a_response_head_aiohttp_refuses_is_a_classified_connection_failure(
    make_llm_provider: MakeProvider, kind: str
) -> None:
    # A header line longer than aiohttp's 8,190 bytes: the transport passes aiohttp's error on
    # unmapped, and the openai SDK does not wrap it.
    def script(path: str) -> list[bytes | float]:
        return [b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 9000 + b"\r\ncontent-length: 0\r\n\r\n"]

    async with raw_server(script, then_wait=False) as url:
        provider = build(make_llm_provider, kind, url, "aiohttp")
        try:
            warning = await provider.check()
        finally:
            await provider.aclose()
        err, _ = await call(build(make_llm_provider, kind, url, "aiohttp"), kind)

    assert isinstance(err, ApplicationError), repr(err)
    assert err.type == "ProviderConnectionError"
    assert err.non_retryable is False
    assert warning is not None and "could not verify the API key" in warning


async def test_the_idle_limit_lets_a_stream_that_keeps_sending_run_past_it() -> None:
    started = time.monotonic()
    chunks = 0
    async with idle_limit(0.2, "a stream") as idle:
        for _ in range(8):
            await asyncio.sleep(0.05)
            idle.seen()
            chunks += 1
    # Every chunk read, over longer than the limit (a ReadTimeout would have ended it sooner).
    assert chunks == 8
    assert time.monotonic() - started >= 0.4


async def test_the_idle_limit_ends_a_silent_stream_as_a_read_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout, match=r"a stream: nothing arrived for 0\.2 s"):
        async with idle_limit(0.2, "a stream"):
            await asyncio.Event().wait()
    assert time.monotonic() - started < 2


async def test_the_idle_limit_passes_a_cancellation_and_other_timeouts_through() -> None:
    async def silent() -> None:
        async with idle_limit(30, "a stream"):
            await asyncio.Event().wait()

    task = asyncio.create_task(silent())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    with pytest.raises(TimeoutError) as raised:
        async with idle_limit(30, "a stream"):
            raise TimeoutError("someone else's")
    assert not isinstance(raised.value, httpx2.ReadTimeout)


@pytest.mark.parametrize(
    ("variable", "value", "socks"),
    [
        ("ALL_PROXY", "socks5://127.0.0.1:1080", True),
        ("https_proxy", "socks5h://proxy.internal:1080", True),
        ("HTTPS_PROXY", "http://proxy.internal:3128", False),
    ],
)
def test_a_socks_proxy_in_the_environment_is_seen(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, socks: bool
) -> None:
    for name in (
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, value)

    assert socks_proxy_in_environment() is socks


@pytest.mark.parametrize("kind", KINDS)
def test_with_a_socks_proxy_the_provider_takes_httpx2_which_speaks_it_or_says_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, make_llm_provider: MakeProvider, kind: str
) -> None:
    # The aiohttp transport would send the SOCKS port a plain CONNECT naming the provider's
    # host; httpx2 needs its socks extra (not installed here): the worker's configuration
    # error says so, without the proxy's password.
    monkeypatch.setenv("ALL_PROXY", "socks5://user:proxy-secret@127.0.0.1:1080")
    with pytest.raises(
        ProviderCheckError, match=r"SOCKS proxy .* install 'httpx2\[socks\]'"
    ) as raised:
        build(make_llm_provider, kind, "http://127.0.0.1:9", "aiohttp")
    assert "proxy-secret" not in str(raised.value)
