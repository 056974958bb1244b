"""Worker-side provider settings: endpoints, limits, prices. Never part of a workflow's input.

API keys are not stored here either: a provider names the environment variable that holds its key
(``api_key_env``) and the worker reads it when it builds the client, so no key is ever printed,
logged, recorded in a history or written to a configuration file by this project.
"""

import re
from collections.abc import Mapping
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.http_urls import http_url_problem

# Anthropic bills writing a prompt to its 5-minute cache at 1.25 times the input price (the
# 1-hour cache at 2 times): a price without ``cache_write`` uses the 5-minute multiplier.
CACHE_WRITE_MULTIPLIER: Final = 1.25
# What a provider queue's rate controller does: learn the limit from the provider's 429s (and
# take a declared one), or only take the limit the provider declares (docs/rate-control.md).
RateControl = Literal["adaptive", "declared"]


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    # Prompt-cache hits are billed lower by both providers; None means the input price.
    cached_input: float | None = Field(default=None, ge=0)
    # Prompt-cache writes (Anthropic's cache_creation_input_tokens); None means
    # CACHE_WRITE_MULTIPLIER times the input price. OpenAI reports no cache writes.
    cache_write: float | None = Field(default=None, ge=0)

    @property
    def cache_write_rate(self) -> float:
        return (
            self.cache_write
            if self.cache_write is not None
            else self.input * CACHE_WRITE_MULTIPLIER
        )


# What an environment variable's name may be (POSIX: letters, digits, underscores).
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")
# What a provider's name may be: it becomes its task queue's (llm-<name>).
PROVIDER_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Which API the endpoint speaks. A provider named openai or anthropic defaults to its own;
    # other names (say [providers.ollama]) must say which.
    kind: Literal["openai", "anthropic"]
    # The environment variable holding the key. None for local servers that need no key.
    api_key_env: str | None
    base_url: str | None = None
    # Must stay below the agent activities' start-to-close timeout so the SDK reports a clean
    # timeout error instead of the attempt being cut off by Temporal.
    timeout_seconds: float = Field(default=90.0, gt=0, le=3600)
    # The provider's request limit, turned into the task queue's server-side activities-per-second
    # limit (see docs/providers.md for the arithmetic). None: no limit.
    requests_per_minute: float | None = Field(default=None, gt=0)
    # Share of the request limit the queue may use: one agent activity can make two requests
    # (a repair round), and other clients may share the key.
    rate_limit_headroom: float = Field(default=0.9, gt=0, le=1)
    # With no requests_per_minute, True makes the provider queue's rate controller find the
    # limit from the provider's 429s and set it on the queue, and be its circuit breaker
    # (docs/rate-control.md). Off by default for now: a provider whose 429s do not depend on
    # this project's rate (a key shared with other clients, a test double refusing every first
    # attempt) drives the controller down to its floor rate.
    adaptive_limit: bool = False
    # With no requests_per_minute (and adaptive_limit off), True sets the provider queue's rate
    # from the request limit the provider declares in its answers' headers (OpenAI and
    # Anthropic do), times rate_limit_headroom; the queue has no limit until the first answer
    # declares one. Nothing is learnt from 429s (docs/rate-control.md).
    declared_limit: bool = True
    # The controller's first rate (requests/s), grown by half each second while calls succeed
    # until the first 429: low (below any paid tier's limit: OpenAI's lowest is 500/min), so the
    # first burst does not meet the provider unthrottled. At least 0.001: the queue's rate is
    # set to 3 decimals, and a smaller one rounded to 0, which pauses the queue for good.
    adaptive_start_rate: float = Field(default=2.0, ge=0.001, le=10_000)
    # How long the circuit breaker keeps a provider that fails most calls paused (its queue at
    # rate 0; calls waiting there go to the fallback route) before probing it again.
    breaker_cool_down_seconds: float = Field(default=30.0, gt=0, le=3600)
    max_concurrent: int = Field(default=16, ge=1, le=10_000)
    # Upper bounds on the numbers below: far past any model or machine, so a typo (1e17) is
    # refused with the setting named instead of reaching a request or a semaphore.
    max_output_tokens: int = Field(default=2048, ge=16, le=1_000_000)
    # Models used when no [agents] routes are configured: small for classify/triage/validate,
    # large for drafting replies.
    small_model: str
    large_model: str
    # OpenAI-compatible servers differ in what they accept: json_schema (OpenAI, vLLM, Ollama),
    # or json_object with the schema in the prompt (older servers).
    structured_output: Literal["json_schema", "json_object"] = "json_schema"
    # The HTTP transport under the SDK's client: "aiohttp" (the SDKs' DefaultAioHttpClient: a
    # third to half less CPU per streamed call, docs/performance.md), or "httpx" (the SDKs' own
    # default, httpx2: for what aiohttp does not do, such as HTTP/2).
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"

    @field_validator("api_key_env")
    @classmethod
    def _a_variable_name(cls, value: str | None) -> str | None:
        # A key pasted here in place of its variable's name was printed as that name in the
        # worker's errors and warnings ("... but sk-... is not set"). The error never repeats
        # the value.
        if value and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must name the environment variable that holds the key (letters, digits and "
                "underscores, not starting with a digit), not the key itself; the value given is "
                "not repeated here"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _usable_url(cls, value: str | None) -> str | None:
        if value is not None and (problem := http_url_problem(value)):
            raise ValueError(problem)
        return value

    def adapts_its_rate(self) -> bool:
        return self.adaptive_limit and self.requests_per_minute is None

    def rate_control(self) -> RateControl | None:
        """What sets the queue's rate when no requests_per_minute does: the adaptive limit, the
        limit the provider declares, or nothing (None; also when requests_per_minute is set)."""
        if self.requests_per_minute is not None:
            return None
        if self.adaptive_limit:
            return "adaptive"
        return "declared" if self.declared_limit else None

    def paced(self) -> bool:
        """Whether the provider's queue has a rate (configured, declared or learnt) that its
        workers share out and pace their calls by."""
        return self.activities_per_second() is not None or self.rate_control() is not None

    def activities_per_second(self) -> float | None:
        if self.requests_per_minute is None:
            return None
        return self.requests_per_minute / 60.0 * self.rate_limit_headroom


def default_providers() -> dict[str, ProviderConfig]:
    return {
        "openai": ProviderConfig(
            kind="openai",
            api_key_env="OPENAI_API_KEY",
            small_model="gpt-4.1-mini",
            large_model="gpt-4.1",
        ),
        "anthropic": ProviderConfig(
            kind="anthropic",
            api_key_env="ANTHROPIC_API_KEY",
            small_model="claude-haiku-4-5",
            large_model="claude-sonnet-4-5",
        ),
    }


def default_prices() -> dict[str, ModelPrice]:
    """List prices known when this table was written; configure [prices] for your contract."""
    return {
        "gpt-4.1": ModelPrice(input=2.00, output=8.00, cached_input=0.50),
        "gpt-4.1-mini": ModelPrice(input=0.40, output=1.60, cached_input=0.10),
        "gpt-4.1-nano": ModelPrice(input=0.10, output=0.40, cached_input=0.025),
        "gpt-4o": ModelPrice(input=2.50, output=10.00, cached_input=1.25),
        "gpt-4o-mini": ModelPrice(input=0.15, output=0.60, cached_input=0.075),
        # Cache writes at 1.25 x input: Anthropic's 5-minute cache.
        "claude-sonnet-4-5": ModelPrice(
            input=3.00, output=15.00, cached_input=0.30, cache_write=3.75
        ),
        "claude-haiku-4-5": ModelPrice(
            input=1.00, output=5.00, cached_input=0.10, cache_write=1.25
        ),
        "claude-opus-4-1": ModelPrice(
            input=15.00, output=75.00, cached_input=1.50, cache_write=18.75
        ),
        "offline-rules-v1": ModelPrice(input=0.0, output=0.0),
    }


class WorkerSettings(BaseModel):
    """What only the worker needs: how to reach each provider and what its models cost."""

    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderConfig] = Field(default_factory=default_providers)
    prices: dict[str, ModelPrice] = Field(default_factory=default_prices)
    # Ticket bodies are trimmed to about this many tokens before any agent reads them.
    trim_body_tokens: int = Field(default=1_500, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _offline_is_not_configurable(self) -> "WorkerSettings":
        if "offline" in self.providers:
            raise ValueError("providers.offline: the offline provider takes no settings")
        return self

    @field_validator("providers", mode="before")
    @classmethod
    def _named_as_a_queue_can_be(cls, value: object) -> object:
        # Before the tables are read: a provider's name becomes its task queue's (llm-<name>),
        # and a 5,000-character one was taken (and quoted whole in each field's error).
        for name in value if isinstance(value, dict) else ():
            if not isinstance(name, str) or not PROVIDER_NAME.fullmatch(name):
                raise ValueError(
                    f"the provider name {str(name)[:60]!r} must be 1 to 40 lower-case letters, "
                    "digits, '-' or '_' (it names the provider's task queue)"
                )
        return value

    def price(self, model: str) -> ModelPrice | None:
        return price_of(self.prices, model)


# A provider's dated snapshot of a model: gpt-4.1-mini-2025-04-14, claude-sonnet-4-5-20250929.
_SNAPSHOT_DATE = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


def price_of(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    """``model``'s price: its own entry, or, for a dated snapshot with none, its alias's (the
    alias names that snapshot or its successor at the same price; a pinned snapshot was
    reported as costing nothing). Give a snapshot its own [prices] entry when they differ."""
    if (own := prices.get(model)) is not None:
        return own
    alias = _SNAPSHOT_DATE.sub("", model)
    return prices.get(alias) if alias != model else None


def cost_usd(
    price: ModelPrice | None,
    input_tokens: int,
    output_tokens: int,
    cached: int,
    cache_write: int = 0,
) -> float:
    """``input_tokens`` counts every prompt token; ``cached`` of them were read from the prompt
    cache and ``cache_write`` written to it, each billed at its own rate. No price: 0 (the worker
    refuses to start with a cost budget and an unpriced model, so that never hides spending)."""
    if price is None:
        return 0.0
    cached = min(cached, input_tokens)
    cache_write = min(cache_write, input_tokens - cached)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    plain = input_tokens - cached - cache_write
    return (
        plain * price.input
        + cached * cached_rate
        + cache_write * price.cache_write_rate
        + output_tokens * price.output
    ) / 1_000_000
