"""Anthropic: the Messages API with a forced tool whose input schema is the output model.

Streamed, so every event is a heartbeat (pings too). SDK retries are off: Temporal's retry policy
owns them.
The request goes through the SDK's generic ``post`` (its client, authentication, timeouts, error
classes and event parsing) with the body as the API documents it; the events are read as the JSON
objects they are (anthropic_stream.py), not through ``messages.stream``, which costs twice the
CPU per call (``python -m bench provider_cpu``).
"""

import json
import re
from collections.abc import AsyncIterator, Collection
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic
from temporalio.exceptions import ApplicationError

from activities.heartbeat import beat
from activities.providers.anthropic_stream import StreamedMessage
from activities.providers.base import AgentSpec
from activities.providers.completion import (
    REPAIR_INSTRUCTION,
    Completion,
    spending,
    strict_json_schema,
)
from activities.providers.errors import (
    FAILURE_TEXT_READ,
    TRANSPORT_ERRORS,
    ProviderCheckError,
    ProviderFailure,
    connection_failed_below,
    retry_after_seconds,
    scrub,
    should_retry_header,
    stream_error_status,
    to_application_error,
    transport_failure,
)
from activities.providers.idle_watch import progress
from activities.providers.startup_checks import (
    check_failed,
    key_rejected,
    listed_ids,
    unlisted_models,
)
from activities.providers.structured import LLMProvider
from policy.text_budget import estimate_tokens
from shared.provider_config import ModelPrice, ProviderConfig

CONNECT_TIMEOUT = 10.0
MESSAGES = "/v1/messages"
STREAM_CUT_SHORT = (
    "the answer's stream ended before its message_stop event "
    "(or a stop reason after its last block)"
)


def failure_from(err: Exception, provider: str) -> ProviderFailure:
    """What an anthropic SDK exception says, as plain facts (see errors.py for the decision)."""
    if isinstance(err, anthropic.APITimeoutError) and not connection_failed_below(err):
        return ProviderFailure(provider, "request timed out", timeout=True)
    if isinstance(err, anthropic.APIConnectionError):
        return ProviderFailure(provider, "connection failed", connection=True)
    if isinstance(err, anthropic.APIStatusError):
        kind = getattr(err, "type", None)
        error_code = getattr(err, "error_code", None)
        body = err.body if isinstance(err.body, dict) else {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        status = err.status_code
        if status == 200:
            # An error event in the stream: its code too (LiteLLM's "429"), not its type alone,
            # which read a rate limit as a 500 (a review, 2026-12-07).
            status = stream_error_status(error_code, inner.get("code"), kind)
        named = (error_code, kind, inner.get("code"))
        return ProviderFailure(
            provider,
            status_error_message(err),
            status=status,
            # Text only: a number there (529) failed every later look at it with .lower().
            code=next((c for c in named if isinstance(c, str) and c), None),
            retry_after=retry_after_seconds(dict(err.response.headers)),
            should_retry=should_retry_header(dict(err.response.headers)),
        )
    return transport_failure(err, provider)


def status_error_message(err: anthropic.APIStatusError) -> str:
    """The error's message field, as the openai SDK keeps it, never the whole body: for a body
    not in Anthropic's error shape the SDK's message is "Error code: N - <body>" or the raw text,
    and a proxy's HTML 502 page became the ticket's reason, or a 422 that echoes the request's
    input put customer text into it (and the workflow's history)."""
    if said := getattr(err, "api_message", None):
        return str(said)
    body = err.body
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, str) and error.strip():
        # {"error": "upstream overloaded"}: its words, not the status alone.
        return error[:FAILURE_TEXT_READ]
    message = error.get("message") if isinstance(error, dict) else None
    suffix = f" - {message}" if isinstance(message, str) and message else ""
    return f"Error code: {err.status_code}{suffix}"


class _EveryEventBeats(anthropic.AsyncStream[object]):
    """The SDK's stream, with a heartbeat on every server-sent event, ``ping`` included (the SDK
    drops pings before they reach the caller). Anthropic streams a tool's input one whole key
    and value at a time: a long draft's text arrives after seconds of pings only, and without
    them as progress the heartbeat timeout ended the attempt (its tokens billed, its usage lost).
    Each is progress for the provider's idle timeout too (``idle_watch``): that timeout ended
    such an attempt as "the response stopped arriving" while pings kept coming, and every retry
    the same way."""

    async def _iter_events(self) -> AsyncIterator[Any]:
        async for event in super()._iter_events():
            progress()
            beat()
            yield event


def tool_name(spec: AgentSpec[Any, Any]) -> str:
    return "submit_" + re.sub(r"(?<!^)(?=[A-Z])", "_", spec.output_model.__name__).lower()


def submit_tool(spec: AgentSpec[Any, Any]) -> dict[str, Any]:
    """The one tool the model must call: its input schema is the output model."""
    return {
        "name": tool_name(spec),
        "description": f"Submit your answer as a {spec.output_model.__name__}.",
        "input_schema": strict_json_schema(spec.output_model),
    }


# The SDK's own endpoint, given explicitly. Given None, the SDK reads ANTHROPIC_BASE_URL
# itself and takes an empty value (the compose file passes every optional setting,
# an unset one empty) as the URL: every call failed to connect. The configuration
# has read that variable already (empty is unset), for the provider it names.
DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider(LLMProvider):
    def __init__(
        self, name: str, config: ProviderConfig, api_key: str, prices: dict[str, ModelPrice]
    ) -> None:
        super().__init__(name, config, prices, secrets=[api_key])
        self._client = AsyncAnthropic(
            api_key=api_key,
            base_url=config.base_url or DEFAULT_BASE_URL,
            max_retries=0,
            timeout=httpx2.Timeout(config.timeout_seconds, connect=CONNECT_TIMEOUT),
            http_client=self._http_client(
                anthropic.DefaultAioHttpClient, anthropic.DefaultAsyncHttpxClient
            ),
        )

    def _error(self, err: Exception) -> ApplicationError:
        return to_application_error(failure_from(err, self.name), self._secrets)

    def _counted_tokens(self, completion: Completion) -> tuple[int, int]:
        # Anthropic counts input tokens against its input limit, except those read from the
        # prompt cache, and the output tokens written against its output limit.
        return completion.input_tokens - completion.cached_tokens, completion.output_tokens

    def _conversation(self, spec: AgentSpec[Any, Any], request: Any) -> list[dict[str, Any]]:
        return [{"role": "user", "content": spec.render_input(request)}]

    async def _call(
        self, spec: AgentSpec[Any, Any], model: str, conversation: list[dict[str, Any]]
    ) -> Completion:
        tool = submit_tool(spec)
        name = tool["name"]
        body = {
            "model": model,
            "max_tokens": self.config.max_output_tokens,
            "system": spec.instructions,
            "messages": conversation,
            "tools": [tool],
            # One call of it: a forced tool may otherwise be called more than once in an answer
            # (Anthropic's documentation), and only the first is read.
            "tool_choice": {"type": "tool", "name": name, "disable_parallel_tool_use": True},
            "stream": True,
        }
        message = StreamedMessage()
        try:
            await self._stream_json(
                self._client.post, MESSAGES, body, _EveryEventBeats, message.add
            )
        except (anthropic.AnthropicError, *TRANSPORT_ERRORS) as err:
            # Network errors while reading a stream reach us as httpx2 errors, unwrapped. An
            # answer already whole (its stop reason after its last block) is kept, as OpenAI's
            # is once it has its finish reason and usage.
            if not message.whole or isinstance(err, anthropic.APIStatusError):
                raise self._billed(self._error(err), message) from None
        except ApplicationError as err:
            # The stream's own verdicts (malformed, too long, not a stream), after message_start
            # may have counted the prompt: each retry was billed it again, none of it counted.
            raise self._billed(err, message) from None
        if not message.whole:
            # The body ended before the answer did (a proxy that closed the connection, an empty
            # 200): not the model's answer, so not a repair round: a failure to retry.
            cut = ProviderFailure(self.name, STREAM_CUT_SHORT, connection=True)
            raise self._billed(to_application_error(cut, self._secrets), message)
        message.done()
        completion = _counted(message)
        completion.finish_reason = message.stop_reason
        completion.response_model = message.model
        completion.extra = {"content": message.content()}
        tool_use = message.tool_use()
        if tool_use is None:
            completion.refusal = f"no {name} tool call (answered: {message.text()[:200]!r})"
        elif (invalid := tool_use.get("_invalid_input")) is not None:
            completion.text = invalid  # not JSON: parse() says so, and a repair round follows
            completion.extra["tool_use_id"] = tool_use.get("id")
        else:
            completion.data = tool_use.get("input")
            completion.extra["tool_use_id"] = tool_use.get("id")
        if not completion.input_tokens and not completion.output_tokens:
            # A compatible server that sends no usage in its events: estimated, as OpenAI's.
            turns = (m.get("content") for m in conversation)
            prompt = spec.instructions + "".join(
                t if isinstance(t, str) else json.dumps(t) for t in turns
            )
            answer = json.dumps(tool_use.get("input")) if tool_use else message.text()
            self._estimate_usage(model, completion, prompt, answer)
        return completion

    def _billed(self, err: ApplicationError, message: StreamedMessage) -> ApplicationError:
        """``err``, marked with what the stream had been billed when it broke (message_start
        counts the prompt): each retry of a cut stream was billed its prompt again, uncounted.
        Cut before message_delta, the answer so far is estimated from what streamed, as
        OpenAI's is (message_start counts about one output token): a long draft cut near its
        end was billed in full and counted as one token."""
        spent = _counted(message)
        if not message.answer_counted and message.streamed:
            so_far = estimate_tokens("".join(message.streamed))
            if so_far > spent.output_tokens:
                spent.output_tokens, spent.estimated = so_far, True
        return spending(err, spent) if spent.input_tokens or spent.output_tokens else err

    def _repair(
        self, conversation: list[dict[str, Any]], completion: Completion, problem: str
    ) -> list[dict[str, Any]]:
        instruction = REPAIR_INSTRUCTION.format(errors=problem)
        content = completion.extra.get("content") or []
        # A result for every tool call the answer made: the API refuses (400, for good) a turn
        # that leaves one unanswered, and a server that called the tool twice despite
        # disable_parallel_tool_use would have had its repair round refused so.
        called = [
            block["id"]
            for block in content
            if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("id")
        ]
        if not called and (tool_use_id := completion.extra.get("tool_use_id")):
            called = [tool_use_id]
        reply: list[dict[str, Any]] = [
            {"type": "tool_result", "tool_use_id": i, "is_error": True, "content": instruction}
            for i in called
        ] or [{"type": "text", "text": instruction}]
        return [
            *conversation,
            {"role": "assistant", "content": completion.extra.get("content") or "(no answer)"},
            {"role": "user", "content": reply},
        ]

    async def check(self, models: Collection[str] = ()) -> str | None:
        try:
            # The API's largest page: its models fit in one.
            page = await self._client.models.list(limit=1000)
        except anthropic.AuthenticationError as err:
            reason = scrub(status_error_message(err), self._secrets)
            raise ProviderCheckError(
                key_rejected(self.name, self.config.api_key_env, err.status_code, reason)
            ) from None
        except (anthropic.AnthropicError, *TRANSPORT_ERRORS) as err:
            reason = self._error(err).message
            return check_failed(self.name, reason, err, self._client.base_url, "anthropic")
        return unlisted_models(self.name, models, listed_ids(page))

    async def aclose(self) -> None:
        await self._client.close()


def _counted(message: StreamedMessage) -> Completion:
    """What the message's usage says was billed. Anthropic's input_tokens excludes the prompt
    tokens read from and written to the cache; each of the three is billed at its own rate."""
    usage = message.usage
    cached = usage.get("cache_read_input_tokens", 0)
    written = usage.get("cache_creation_input_tokens", 0)
    return Completion(
        input_tokens=usage.get("input_tokens", 0) + cached + written,
        output_tokens=usage.get("output_tokens", 0),
        cached_tokens=cached,
        cache_write_tokens=written,
    )
