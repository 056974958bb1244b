"""Structured output shared by the LLM providers: one call, validation of what comes back (the
schema and the validation itself are in ``completion.py``), one repair round, and the call's
usage and cost.

Providers implement two small methods (one model call; how to ask for a repair in their message
format); ``LLMProvider.run`` does the rest the same way for every provider.
"""

import contextlib
import logging
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any, Final

import httpx2
from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.heartbeat import (
    attempt_time_left,
    beat,
    carry,
    heartbeating,
    retries_time_left,
    trailing_beats,
)
from activities.heartbeat import earlier as carried_earlier
from activities.providers.answer_format import (
    BYTES_PER_CHUNK,
    SHAPE_ERRORS,
    StreamTooLarge,
    chunk_limit,
    is_json,
    json_body,
    malformed_stream_error,
    not_streaming_error,
    read_at_most,
    too_large_error,
    too_long_error,
    unsendable_error,
)
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
from activities.providers.idle_watch import AnswerOutOfTime, idle_limit, no_later_than
from activities.providers.pacing import CallPacer
from activities.providers.peers import QueuePeers
from policy.text_budget import estimate_tokens
from shared.agents import AgentReply, Usage, total_usage
from shared.provider_config import ModelPrice, ProviderConfig, cost_usd, price_of

log = logging.getLogger(__name__)

# An answer still streaming this long before its attempt's start-to-close timeout ends as the
# provider's timeout (idle_watch.AnswerOutOfTime), with what it was billed, while the worker can
# still report it: Temporal's own timeout cancels the call and reports no usage.
ATTEMPT_REPORT_MARGIN: Final = 2.0
# Calls waiting this long for their turn are a backlog (peers.py counts workers differently).
BACKLOG_SECONDS: Final = 1.0
# The model of the call the current task is making: read by the response hook, which the SDK's
# HTTP client runs in the calling task.
_CALLING_MODEL: ContextVar[str] = ContextVar("calling_model", default="")


# A stream that stopped mid-answer ends by the provider's own read timeout this share of the
# heartbeat timeout after its last chunk: by Temporal's heartbeat timeout (20 s against the
# provider's 90), the attempt was cancelled with no provider error to carry what it was billed,
# and the ticket's budget and cost missed every stalled attempt (a review, 2026-12-07).
STALL_SHARE_OF_HEARTBEAT: Final = 0.75


def _stalled_after() -> float | None:
    """Seconds without a chunk after which an answer under way has stalled: within this
    attempt's heartbeat timeout. None outside an activity or without one."""
    if not activity.in_activity():
        return None
    timeout = activity.info().heartbeat_timeout
    return STALL_SHARE_OF_HEARTBEAT * timeout.total_seconds() if timeout else None


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


class LLMProvider(Provider):
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

    async def _stream_json(
        self,
        post: Callable[..., Awaitable[Any]],
        path: str,
        body: dict[str, Any],
        stream_cls: type[Any],
        take: Callable[[dict[str, Any]], None],
        begun: Callable[[], bool] | None = None,
    ) -> Any:
        """POST a streamed request through the SDK's own client (``post``: its authentication,
        timeouts, error classes, SSE parsing) and hand every chunk, a JSON object, to ``take``:
        no typed model per chunk (docs/performance.md). A heartbeat runs until the first chunk
        arrives, then every chunk is one; the response is closed however the loop ends. The SDK's
        exceptions pass through for the provider to classify; a stream that sends nothing for the
        provider's timeout ends with httpx2's ``ReadTimeout`` (``idle_watch.py``). Returns the
        stream (a ``stream_cls``), read to its end and closed."""
        ends_in, limit, _ = self._attempt_end()
        async with contextlib.AsyncExitStack() as opened:
            try:
                # Until the response starts there is no progress; nor past the attempt's end (a
                # repair request sent late in an attempt waited on its headers for the whole
                # read timeout, past start-to-close, and Temporal's timeout ended the attempt
                # with its calls' tokens counted nowhere).
                async with heartbeating(), no_later_than(ends_in) as bound:
                    stream = await post(
                        path, body=body, cast_to=object, stream=True, stream_cls=stream_cls
                    )
                    # Closed from here whatever happens: a cancellation landing as the
                    # heartbeats stop (before `async with stream`) left the response open, its
                    # connection held until the server gave up on it.
                    opened.push_async_callback(stream.close)
            except UnicodeEncodeError:
                raise unsendable_error(self.name) from None
            except TimeoutError:
                if bound is None or not bound.expired():
                    raise
                raise AnswerOutOfTime(f"the answer had not begun as {limit} ran out") from None
            await self._read_stream(stream, body, take, begun)
        return stream

    def _attempt_end(self) -> tuple[float | None, str, str]:
        """Seconds until this attempt must report (None: no bound of its own), the limit that
        ends it then ("the attempt's 120 s (...)"), and what to do about it."""
        left = attempt_time_left(ATTEMPT_REPORT_MARGIN)
        # As configured, the attempt is longer than the provider's timeout (settings.py checks
        # it): a shorter one is a test's or a hand-made call's, bounded by its own caller.
        if left is None or left[1] <= self.config.timeout_seconds:
            return None, "", ""
        ends_in, total = left
        retries_end = retries_time_left(ATTEMPT_REPORT_MARGIN)
        if retries_end is not None and retries_end < ends_in:
            # A late retry: the call's retry window ends before this attempt's own time.
            return (
                retries_end,
                "the call's retry window (its schedule-to-close: for a ticket, the time to its "
                "SLA deadline, at least 15 minutes)",
                "the provider failed or limited the attempts before it for most of that time",
            )
        return (
            ends_in,
            f"the attempt's {total:g} s (agent_timeouts.start_to_close_seconds)",
            "a model this slow needs it raised",
        )

    async def _read_stream(
        self,
        stream: Any,
        body: dict[str, Any],
        take: Callable[[dict[str, Any]], None],
        begun: Callable[[], bool] | None = None,
    ) -> None:
        """Every chunk of an open ``stream`` to ``take``, within the idle, chunk and byte limits
        (the caller closes it). ``begun``: whether the answer itself has begun, after the chunks
        taken so far (None: with the first chunk)."""
        ends_in, limit, advice = self._attempt_end()
        why_then = f"still arriving as {limit} ran out: {advice}"
        async with idle_limit(
            self.config.timeout_seconds, "the answer's stream", ends_in, why_then
        ) as idle:
            if is_json(stream.response.headers.get("content-type")):
                body = await json_body(stream.response)
                raise not_streaming_error(self.name, body, self._secrets)
            limit, chunks = chunk_limit(body, self.config.max_output_tokens), 0
            read_at_most(stream.response, limit * BYTES_PER_CHUNK)
            try:
                async with trailing_beats(), contextlib.AsyncExitStack() as first_chunk:
                    # Until the first chunk, still no progress to beat on: a server that sends
                    # its headers at once and its first token later (vLLM or SGLang with
                    # requests queued, a reasoning model thinking) had every attempt ended by
                    # the heartbeat timeout as a stall (a review, 2026-12-07). The idle limit
                    # still ends one that never sends it.
                    # An OpenAI-compatible server's first chunk may carry the role alone, its
                    # text coming after the model thought: the answer begins with its text.
                    await first_chunk.enter_async_context(heartbeating())
                    waiting = True
                    async for chunk in stream:
                        idle.seen()
                        beat()
                        chunks += 1
                        if chunks > limit:
                            raise too_long_error(self.name, limit)
                        if isinstance(chunk, dict):
                            take(chunk)
                        if waiting and (begun is None or begun()):
                            waiting = False
                            await first_chunk.aclose()
                            if (stalled := _stalled_after()) is not None:
                                idle.tighten(stalled)
            except SHAPE_ERRORS as err:
                raise malformed_stream_error(self.name, err, self._secrets) from None
            except StreamTooLarge as err:
                raise too_large_error(self.name, err.limit) from None

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
