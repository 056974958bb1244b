"""The real pipeline wired to LLM providers that talk to a FakeLLMServer."""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.client import Client

from shared.agents import AgentRole, AgentRoute
from shared.pipeline_config import PipelineConfig
from shared.provider_config import ProviderConfig, WorkerSettings, default_providers
from tests.support.fake_llm import FakeLLMServer
from tests.support.workers import real_pipeline

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5"}


@dataclass
class LLMSetup:
    config: PipelineConfig
    settings: WorkerSettings
    env: dict[str, str]
    names: dict[str, str]  # kind -> this test's provider name (unique, so its queue is too)

    def route(self, kind: str) -> AgentRoute:
        return AgentRoute(provider=self.names[kind], model=MODELS[kind])


def llm_setup(
    fake: FakeLLMServer,
    chain: tuple[str, ...] = ("openai",),
    provider_overrides: dict[str, Any] | None = None,
    **pipeline: Any,
) -> LLMSetup:
    """Every agent routed along ``chain`` (kinds: openai, anthropic), each provider pointing at
    the fake server under a name unique to this test."""
    suffix = uuid.uuid4().hex[:6]
    names = {kind: f"{kind}{suffix}" for kind in ("openai", "anthropic")}
    defaults = default_providers()
    # No adaptive limit unless a test asks for one: a test's scripted 429 would otherwise have
    # its queue's controller slow the rest of the test down (tests/integration/test_rate_control).
    provider_overrides = {"adaptive_limit": False, **(provider_overrides or {})}
    providers: dict[str, ProviderConfig] = {
        names["openai"]: defaults["openai"].model_copy(
            update={"base_url": fake.openai_base_url, **provider_overrides}
        ),
        names["anthropic"]: defaults["anthropic"].model_copy(
            update={"base_url": fake.anthropic_base_url, **provider_overrides}
        ),
    }
    routes = {
        role: [AgentRoute(provider=names[k], model=MODELS[k]) for k in chain] for role in AgentRole
    }
    return LLMSetup(
        config=PipelineConfig(routes=routes, **pipeline),
        settings=WorkerSettings(providers=providers),
        env={"OPENAI_API_KEY": OPENAI_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY},
        names=names,
    )


@contextlib.asynccontextmanager
async def llm_pipeline(
    client: Client,
    task_queue: str,
    data_dir: Path,
    setup: LLMSetup,
    sandboxed: bool = True,
    agent_queues: bool = True,
) -> AsyncIterator[None]:
    async with real_pipeline(
        client,
        task_queue,
        data_dir,
        setup.config,
        setup.settings,
        setup.env,
        sandboxed=sandboxed,
        agent_queues=agent_queues,
    ):
        yield
