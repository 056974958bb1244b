"""Builds the providers the configured agent routes need, with their keys from the environment."""

import os
from collections.abc import Collection, Mapping

from activities.providers.base import Provider
from activities.providers.errors import ProviderCheckError
from activities.providers.offline import OfflineProvider
from shared.pipeline_config import PipelineConfig
from shared.provider_config import ProviderConfig, WorkerSettings

OFFLINE = "offline"
# Local servers (Ollama, vLLM) take any key; the SDKs insist on one.
PLACEHOLDER_KEY = "no-key-needed"


def providers_in_use(config: PipelineConfig) -> list[str]:
    return sorted({route.provider for route in config.used_routes()})


def models_in_use(config: PipelineConfig) -> dict[str, list[str]]:
    """The models the agent routes name, by provider (the worker checks them at start-up)."""
    found: dict[str, set[str]] = {}
    for route in config.used_routes():
        found.setdefault(route.provider, set()).add(route.model)
    return {provider: sorted(models) for provider, models in found.items()}


def roles_using(config: PipelineConfig, provider: str) -> list[str]:
    roles = [
        str(role)
        for role, chain in config.routes.items()
        if any(r.provider == provider for r in chain)
    ]
    fallback = config.orchestration.fallback_route
    if fallback is not None and fallback.provider == provider:
        roles.append("orchestrator's fallback")
    return roles


def _build(name: str, config: ProviderConfig, key: str, settings: WorkerSettings) -> Provider:
    # Each SDK is imported when a provider of its kind is configured, not by every worker: the
    # anthropic package alone took 1.5-3 s of CPU to import here, and the offline agents (the
    # default, `make run`) need neither.
    if config.kind == "anthropic":
        from activities.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(name, config, key, settings.prices)
    from activities.providers.openai_provider import OpenAIProvider

    return OpenAIProvider(name, config, key, settings.prices)


def build_providers(
    config: PipelineConfig,
    settings: WorkerSettings,
    env: Mapping[str, str] | None = None,
    polled: Collection[str] | None = None,
) -> dict[str, Provider]:
    """The clients of the providers the agent routes use, or, given ``polled`` (the providers
    whose queues this worker polls), of exactly those: a worker that runs only the workflows
    never calls a provider and needs neither its key nor its client, and a worker for one
    provider's queue needs that provider's key whatever its own routes say. Raises
    ProviderCheckError naming the variable when a needed key is missing."""
    env = os.environ if env is None else env
    providers: dict[str, Provider] = {OFFLINE: OfflineProvider()}
    for name in providers_in_use(config) if polled is None else sorted(polled):
        if name == OFFLINE:
            continue
        provider_config = settings.providers.get(name)
        if provider_config is None:
            used = "the agent routes use" if polled is None else "the worker polls the queue of"
            raise ProviderCheckError(f"{used} provider {name!r}, which is not configured")
        if not provider_config.api_key_env:  # TOML has no null: "" means no key
            key = PLACEHOLDER_KEY
        else:
            key = env.get(provider_config.api_key_env, "")
            if not key:
                roles = ", ".join(roles_using(config, name))
                users = (
                    f"the {roles} agent(s) use {name}"
                    if roles
                    else f"the worker polls {name}'s queue (llm-{name})"
                )
                raise ProviderCheckError(f"{users}, but {provider_config.api_key_env} is not set")
            key = usable_key(provider_config.api_key_env, key)
        providers[name] = _build(name, provider_config, key, settings)
    return providers


def usable_key(variable: str, value: str) -> str:
    """The key in ``variable`` without the line break or spaces around it (a secret made with
    `echo`, or read from a file, ends in one: the openai SDK died on it with a traceback about
    header characters, the anthropic one failed every call as a connection error). One inside
    the key is refused, naming the variable and never the key."""
    key = value.strip()
    if not key:
        raise ProviderCheckError(f"{variable} holds only spaces or line breaks, not a key")
    if not key.isascii() or any(c.isspace() or not c.isprintable() for c in key):
        raise ProviderCheckError(
            f"{variable} holds a space, line break, control character or non-ASCII character "
            "(a curly quote?) inside the key: a key is one word of plain characters; set it again"
        )
    return key
