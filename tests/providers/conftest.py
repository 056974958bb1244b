"""Fixtures for the LLM provider tests.

One FakeLLMServer (on 127.0.0.1) serves the whole session, because stopping one takes half a
second; each test gets it with no script, no responder and no recorded requests.
"""

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest

from activities.providers.anthropic_provider import AnthropicProvider
from activities.providers.openai_provider import OpenAIProvider
from activities.providers.structured import LLMProvider
from shared.provider_config import default_prices, default_providers
from tests.providers.helpers import API_KEY
from tests.support.fake_llm import LISTED_MODELS, FakeLLMServer

MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5"}
ProviderT = TypeVar("ProviderT", OpenAIProvider, AnthropicProvider)


@pytest.fixture(scope="session")
def shared_fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def transport() -> str:
    """The HTTP transport the providers are built with: the default, unless a module asks for
    both (the failure tests: each transport reports a refused or dropped connection its own way)."""
    return "aiohttp"


@pytest.fixture
def fake(shared_fake: FakeLLMServer) -> Iterator[FakeLLMServer]:
    shared_fake.script.clear()
    shared_fake.responder = None
    shared_fake.requests.clear()
    shared_fake.limit(None)
    shared_fake.limit_tokens(None)
    shared_fake.models = list(LISTED_MODELS)
    yield shared_fake
    shared_fake.script.clear()
    shared_fake.responder = None
    shared_fake.limit(None)
    shared_fake.limit_tokens(None)
    shared_fake.models = list(LISTED_MODELS)


MakeProvider = Callable[[str], LLMProvider]


@pytest.fixture
async def make_llm_provider(fake: FakeLLMServer, transport: str) -> AsyncIterator[MakeProvider]:
    async with (
        _providers(fake, "openai", OpenAIProvider, transport) as openai,
        _providers(fake, "anthropic", AnthropicProvider, transport) as anthropic,
    ):

        def make(kind: str) -> LLMProvider:
            return openai() if kind == "openai" else anthropic()

        yield make


MakeOpenAI = Callable[..., OpenAIProvider]
MakeAnthropic = Callable[..., AnthropicProvider]


@contextlib.asynccontextmanager
async def _providers(
    fake: FakeLLMServer, kind: str, cls: type[ProviderT], transport: str
) -> AsyncIterator[Callable[..., ProviderT]]:
    """Builds providers of one kind pointed at the fake (or at base_url); closes them after."""
    made: list[ProviderT] = []

    def make(key: str = API_KEY, base_url: str | None = None, **config: Any) -> ProviderT:
        fake_url = fake.openai_base_url if kind == "openai" else fake.anthropic_base_url
        settings = default_providers()[kind].model_copy(
            update={"base_url": base_url or fake_url, "http_transport": transport, **config}
        )
        provider = cls(kind, settings, key, default_prices())
        made.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in made:
            await provider.aclose()


@pytest.fixture
async def make_openai(fake: FakeLLMServer, transport: str) -> AsyncIterator[MakeOpenAI]:
    async with _providers(fake, "openai", OpenAIProvider, transport) as make:
        yield make


@pytest.fixture
async def make_anthropic(fake: FakeLLMServer, transport: str) -> AsyncIterator[MakeAnthropic]:
    async with _providers(fake, "anthropic", AnthropicProvider, transport) as make:
        yield make
