"""Structured output shared by the LLM providers: one call, validation of what comes back (the
schema and the validation itself are in ``completion.py``), one repair round, and the call's
usage and cost.

Providers implement two small methods (one model call; how to ask for a repair in their message
format); ``LLMProvider.run`` does the rest the same way for every provider. Reading a streamed
answer (its limits, heartbeats and the attempt's time) is ``streamed_calls.py``.
"""

import logging
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, Final

import httpx2
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError

from activities.heartbeat import (
    carry,
    heartbeating,
)
from activities.heartbeat import earlier as carried_earlier
from activities.providers.base import AgentSpec, InT, OutT, Provider
from activities.providers.completion import (
    CUT_OFF_AT_LIMIT,
    REFUSED_BY_PROVIDER,
    Completion,
    parse,
    problem,
    spent_before_failing,
)
from activities.providers.declared_limits import DeclaredLimits
from activities.providers.errors import INVALID_OUTPUT_TYPE
from activities.providers.http_client import sdk_http_client
from activities.providers.pacing import CallPacer
from activities.providers.peers import QueuePeers
from activities.providers.streamed_calls import StreamedCalls
from policy.text_budget import estimate_tokens
from shared.agents import AgentReply, Usage, total_usage
from shared.provider_config import ModelPrice, ProviderConfig, cost_usd, price_of

log = logging.getLogger(__name__)

# Calls waiting this long for their turn are a backlog (peers.py counts workers differently).
BACKLOG_SECONDS: Final = 1.0
# The model of the call the current task is making: read by the response hook, which the SDK's
# HTTP client runs in the calling task.
_CALLING_MODEL: ContextVar[str] = ContextVar("calling_model", default="")


def earlier_usage() -> list[Usage]:
    """Usage that earlier attempts of this activity carried in their heartbeats."""
    carried = carried_earlier("usage")
    if carried is None:
        return []
    try:
        return [Usage.model_validate(carried)]
    except ValueError:
        return []  # not ours (another version's heartbeat): nothing to add


def with_usage(err: ApplicationError, usage: Usage) -> ApplicationError:
    """The same classified error, with what was spent in its details (the workflow reads it)."""
    return ApplicationError(
        err.message,
        usage.model_dump(mode="json"),
        type=err.type,
        non_retryable=err.non_retryable,
        next_retry_delay=err.next_retry_delay,
        category=err.category,
    )


class LLMProvider(StreamedCalls, Provider):
    """A provider that talks to a model API: subclasses make one call and build a repair turn."""

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        prices: dict[str, ModelPrice],
        secrets: Sequence[str],
    ) -> None:
        self.name = name
        self.config = config
        self._prices = prices
        self._secrets = list(secrets)
        self._estimated_models: set[str] = set()  # models whose answers came without usage
        # The latest limits declared for each model: providers limit each model on its own.
        self._declared = DeclaredLimits()
        # Where the queue's rate comes from what the provider declares (or learns), and where
        # it is configured (no probe then: the rate is known before the first call).
        configured = config.activities_per_second()
        self._pacer = CallPacer(answered=configured is not None) if config.paced() else None
        # The workers taking this provider's calls: each paces its share of the rate.
        self._peers = QueuePeers()

    @property
    def declared_rate(self) -> float | None:
        """The lowest rate the models' declared limits (requests and tokens) allow: one queue
        carries them all, so the lowest is what it can send to any of them without a 429.
        Stable while calls alternate between models (the latest answer's limit alone would
        jump back and forth)."""
        return self._declared.rate()

    def _counted_tokens(self, completion: Completion) -> tuple[int, int]:
        """The input and output tokens a request counts against the provider's token limits
        (its rule, not its bill: declared_limits)."""
        return completion.input_tokens, completion.output_tokens

    async def _response_seen(self, response: httpx2.Response) -> None:
        """Every HTTP response the SDK receives (an event hook on its client, so 429s and
        streamed answers alike, as soon as their headers arrive): keeps the model's declared
        limits. The hook runs in the calling task, so the model is the one ``run`` set."""
        model = _CALLING_MODEL.get()
        # No model: a request outside run() (check()'s model list), whose limit is not a
        # model's.
        if model:
            self._declared.headers_seen(model, response.headers)
            if self._pacer is not None:
                self._pacer.answer_seen()

    def _queue_rate(self) -> float | None:
        """The rate of this provider's queue, all workers together: configured, or what the
        provider's declared limits allow (None while it has declared none)."""
        configured = self.config.activities_per_second()
        if configured is not None:
            return configured
        rate = self.declared_rate
        return rate * self.config.rate_limit_headroom if rate is not None else None

    def _paced_rate(self) -> float | None:
        """This worker's share of the queue's rate (peers.py: the server's burst)."""
        rate = self._queue_rate()
        return rate / self._peers.count if rate is not None else None

    async def _sent(
        self, spec: AgentSpec[Any, Any], model: str, conversation: list[dict[str, Any]]
    ) -> Completion:
        """One request, in its turn (pacing), its tokens counted against the declared limits."""
        pacer, probe = self._pacer, False
        try:
            if pacer is not None:
                # A wait that outlives the attempt is cancelled with it. A cancellation as the
                # heartbeats stop, after this call became the probe, still ends the probe
                # (below): left probing, every later call waited PROBE_WAIT_SECONDS.
                async with heartbeating():
                    rate = self._queue_rate()
                    if rate is not None:  # a rate to share
                        await self._peers.refresh(pacer.queued_seconds() >= BACKLOG_SECONDS, rate)
                    probe = await pacer.turn(self._paced_rate)
            completion = await self._call(spec, model, conversation)
            self._declared.spent(model, *self._counted_tokens(completion))
            return completion
        finally:
            if pacer is not None and probe:
                await pacer.ended()

    def _estimate_usage(self, model: str, completion: Completion, prompt: str, answer: str) -> None:
        """A server that sends no usage with its answers (a compatible server that ignores
        OpenAI's ``include_usage`` or sends Anthropic's events without it, a proxy that drops
        it) answered: the call's tokens are estimated from its text (about four characters a
        token), not counted as none, so a cost or token budget still holds. Said once per model
        in the worker's log."""
        completion.input_tokens = estimate_tokens(prompt)
        completion.output_tokens = estimate_tokens(answer)
        completion.estimated = True
        if model not in self._estimated_models:
            self._estimated_models.add(model)
            log.warning(
                "%s:%s sent no usage with its answers: their tokens (and cost) are estimated "
                "from the text, about four characters a token",
                self.name,
                model,
            )

    def _http_client(
        self,
        over_aiohttp: Callable[..., httpx2.AsyncClient],
        over_httpx: Callable[..., httpx2.AsyncClient],
    ) -> httpx2.AsyncClient:
        """The SDK's client for this provider's configuration (``http_client.py``), with the
        response hook above."""
        return sdk_http_client(self.config, over_aiohttp, over_httpx, self._response_seen)

    @abstractmethod
    async def _call(
        self, spec: AgentSpec[Any, Any], model: str, conversation: list[dict[str, Any]]
    ) -> Completion:
        """One request; raises ApplicationError (classified) on any provider failure."""

    @abstractmethod
    def _conversation(self, spec: AgentSpec[Any, Any], request: Any) -> list[dict[str, Any]]:
        """The first turn(s) of the conversation for this request."""

    @abstractmethod
    def _repair(
        self, conversation: list[dict[str, Any]], completion: Completion, problem: str
    ) -> list[dict[str, Any]]:
        """The conversation extended with the model's bad answer and the request to fix it."""

    def _usage(
        self, model: str, completions: list[Completion], started: float, earlier: list[Usage]
    ) -> Usage:
        """This attempt's requests, plus what earlier attempts of the activity spent."""
        input_tokens = sum(c.input_tokens for c in completions)
        output_tokens = sum(c.output_tokens for c in completions)
        cached = sum(c.cached_tokens for c in completions)
        written = sum(c.cache_write_tokens for c in completions)
        this_attempt = Usage(
            provider=self.name,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached,
            cache_write_tokens=written,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            cost_usd=round(
                cost_usd(
                    price_of(self._prices, model), input_tokens, output_tokens, cached, written
                ),
                8,
            ),
            requests=len(completions),
            estimated=any(c.estimated for c in completions),
            finish_reason=completions[-1].finish_reason if completions else None,
            response_model=completions[-1].response_model if completions else None,
        )
        return total_usage([*earlier, this_attempt])

    async def run(self, spec: AgentSpec[InT, OutT], request: InT, model: str) -> AgentReply[OutT]:
        # The calling task's, for the event hook; reset after, so a later request in the same
        # context (check()'s model list, a test session's next test) is no model's.
        token = _CALLING_MODEL.set(model)
        try:
            return await self._run(spec, request, model)
        finally:
            _CALLING_MODEL.reset(token)

    async def _run(self, spec: AgentSpec[InT, OutT], request: InT, model: str) -> AgentReply[OutT]:
        started = time.perf_counter()
        earlier = earlier_usage()
        completions: list[Completion] = []

        async def call(conversation: list[dict[str, Any]]) -> Completion:
            """One request. A failure after an answer (a transport error on the repair call)
            reports the answered requests' usage in its details: tokens the provider billed
            are never lost, whichever attempt spent them."""
            try:
                completion = await self._sent(spec, model, conversation)
            except ApplicationError as err:
                if (spent := spent_before_failing(err)) is not None:
                    # Billed though not used: a stream cut after the provider counted its prompt,
                    # a whole answer where a stream was asked for.
                    completions.append(spent)
                if completions or earlier:
                    usage = self._usage(model, completions, started, earlier)
                    if completions and not err.non_retryable:
                        # The next attempt adds to it: a retried call billed every attempt.
                        carry("usage", usage.model_dump(mode="json"))
                    raise with_usage(err, usage) from None
                raise
            completions.append(completion)
            return completion

        conversation = self._conversation(spec, request)
        first = await call(conversation)
        try:
            output = parse(spec.output_model, first)
        except (ValidationError, ValueError) as err:
            if first.finish_reason in CUT_OFF_AT_LIMIT:
                # A repair round gets the same output limit and is cut off again, at twice the
                # cost: the fallback route (or a person) takes the ticket instead.
                raise ApplicationError(
                    f"{self.name}:{model} stopped the {spec.role} agent's answer at the output "
                    f"limit ({self.config.max_output_tokens} tokens) before it was complete; "
                    f"raise max_output_tokens for provider {self.name}",
                    self._usage(model, completions, started, earlier).model_dump(mode="json"),
                    type=INVALID_OUTPUT_TYPE,
                    non_retryable=True,
                ) from None
            if first.finish_reason in REFUSED_BY_PROVIDER:
                raise ApplicationError(
                    f"{self.name}:{model} refused the {spec.role} agent's answer "
                    f"(finish reason {first.finish_reason}): the fallback route or a person "
                    "takes the ticket",
                    self._usage(model, completions, started, earlier).model_dump(mode="json"),
                    type=INVALID_OUTPUT_TYPE,
                    non_retryable=True,
                ) from None
            # One repair round: the validation error goes back to the model. Before it, the
            # first answer's usage rides on this attempt's heartbeats (sent now), so a worker
            # that dies during the repair call does not lose it. A call that answers validly
            # returns its usage at once and sends no heartbeat for it.
            carry(
                "usage", self._usage(model, completions, started, earlier).model_dump(mode="json")
            )
            conversation = self._repair(conversation, first, problem(err))
            second = await call(conversation)
            try:
                output = parse(spec.output_model, second)
            except (ValidationError, ValueError) as err2:
                usage = self._usage(model, completions, started, earlier)
                # Non-retryable: asking again would most likely get the same answer. The usage
                # travels in the error's details so the workflow still counts what was spent.
                raise ApplicationError(
                    f"{self.name}:{model} answered the {spec.role} agent with output that does "
                    f"not match {spec.output_model.__name__} even after a repair round: "
                    f"{problem(err2)}",
                    usage.model_dump(mode="json"),
                    type=INVALID_OUTPUT_TYPE,
                    non_retryable=True,
                ) from None
        return AgentReply[spec.output_model](  # type: ignore[name-defined]
            output=output, usage=self._usage(model, completions, started, earlier)
        )
