"""OpenAI, and any OpenAI-compatible endpoint (Ollama, vLLM, LM Studio, hosted gateways).

Chat Completions with a JSON-schema response format, streamed so the chunks are heartbeats.
SDK retries are off: Temporal's retry policy owns retries.

The request goes through the SDK's generic ``post`` (its client, authentication, timeouts, error
classes and stream parsing) with the body as the API documents it, and the chunks come back as
the JSON objects they are. ``chat.completions.create`` would first walk the whole body through
its typed-parameter transform and then build a pydantic model for every chunk (~160 us each: a
400-token answer streams ~400 of them), work this provider reads three fields from; see
docs/performance.md and ``python -m bench provider_cpu``.
"""

import json
import logging
from collections.abc import AsyncIterator, Collection
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI
from temporalio.exceptions import ApplicationError

from activities.providers.base import AgentSpec
from activities.providers.completion import (
    REPAIR_INSTRUCTION,
    Completion,
    spending,
    strict_json_schema,
    token_count,
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
from activities.providers.startup_checks import (
    check_failed,
    key_rejected,
    listed_ids,
    unlisted_models,
)
from activities.providers.structured import LLMProvider
from policy.text_budget import estimate_tokens
from shared.provider_config import ModelPrice, ProviderConfig

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to open a connection; the rest is timeout_seconds
CHAT_COMPLETIONS = "/chat/completions"
STREAM_CUT_SHORT = "the answer's stream ended before its finish reason or usage"


def failure_from(err: Exception, provider: str) -> ProviderFailure:
    """What an openai SDK exception says, as plain facts (see errors.py for the decision)."""
    if isinstance(err, openai.APITimeoutError) and not connection_failed_below(err):
        return ProviderFailure(provider, "request timed out", timeout=True)
    if isinstance(err, openai.APIConnectionError):
        return ProviderFailure(provider, "connection failed", connection=True)
    if isinstance(err, openai.APIStatusError):
        body = err.body if isinstance(err.body, dict) else {}
        return ProviderFailure(
            provider,
            str(body.get("message") or err.message),
            status=err.status_code,
            code=str(err.code or body.get("type") or "") or None,
            retry_after=retry_after_seconds(dict(err.response.headers)),
            should_retry=should_retry_header(dict(err.response.headers)),
        )
    if isinstance(err, openai.APIError):  # an error event inside a stream
        # An error given as a string ({"error": "upstream overloaded"}) is the SDK's "An error
        # occurred during streaming", its text only in the body.
        said = err.body if isinstance(err.body, str) and err.body.strip() else err.message
        return ProviderFailure(
            provider,
            said[:FAILURE_TEXT_READ],
            status=stream_error_status(err.code, err.type),
            # Text only, as Anthropic's: a compatible server's "type": 529 (a number) failed
            # every later look at the code with .lower(), an AttributeError no rule classified.
            code=next((c for c in (err.code, err.type) if isinstance(c, str) and c), None),
        )
    return transport_failure(err, provider)


def text_of(value: object, field: str) -> str:
    """A delta's text; another kind of value is a chunk not in the API's format (a TypeError,
    which the stream's reader classifies), not a join that fails after the stream."""
    if not isinstance(value, str):
        raise TypeError(f"a chunk's {field} is not text")
    return value


def read_chunk(
    chunk: dict[str, Any], completion: Completion, parts: list[str], refusal: list[str]
) -> None:
    """One streamed chat-completion chunk, as the JSON object it is: its text, refusal and
    finish reason, the model that answered, and (in the last chunk, with ``include_usage``)
    the usage."""
    if isinstance(model := chunk.get("model"), str) and model:
        completion.response_model = model[:200]
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if content := delta.get("content"):
            parts.append(text_of(content, "content"))
        if said := delta.get("refusal"):
            refusal.append(text_of(said, "refusal"))
        if finish := choice.get("finish_reason"):
            # Checked here, where a chunk of another shape is classified as malformed: a number
            # failed later, building the usage, unclassified and with the usage lost.
            completion.finish_reason = text_of(finish, "finish_reason")
    if usage := chunk.get("usage"):
        if not isinstance(usage, dict):
            raise TypeError("a chunk's usage is not an object")
        completion.input_tokens = token_count(usage.get("prompt_tokens"))
        completion.output_tokens = token_count(usage.get("completion_tokens"))
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        completion.cached_tokens = min(token_count(cached), completion.input_tokens)


class _DoneSeen(openai.AsyncStream[object]):
    """The SDK's stream, noting whether the server ended it with ``[DONE]`` (the SDK stops
    there without a word): an answer whose server sends no finish reason is whole only so."""

    done = False

    async def _iter_events(self) -> AsyncIterator[Any]:
        async for event in super()._iter_events():
            if event.data.startswith("[DONE]"):
                self.done = True
            yield event


# The SDK's own endpoint, given explicitly. Given None, the SDK reads OPENAI_BASE_URL
# itself and takes an empty value (the compose file passes every optional setting,
# an unset one empty) as the URL: every call failed to connect. The configuration
# has read that variable already (empty is unset), for the provider it names.
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider(LLMProvider):
    def __init__(
        self, name: str, config: ProviderConfig, api_key: str, prices: dict[str, ModelPrice]
    ) -> None:
        super().__init__(name, config, prices, secrets=[api_key])
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=config.base_url or DEFAULT_BASE_URL,
            max_retries=0,
            timeout=httpx2.Timeout(config.timeout_seconds, connect=CONNECT_TIMEOUT),
            http_client=self._http_client(
                openai.DefaultAioHttpClient, openai.DefaultAsyncHttpxClient
            ),
        )

    def _error(self, err: Exception) -> ApplicationError:
        return to_application_error(failure_from(err, self.name), self._secrets)

    def _cut(
        self, err: Exception, conversation: list[dict[str, Any]], answered: list[str]
    ) -> ApplicationError:
        """The error of a call that broke; marked with what it was billed when the stream had
        begun its answer: the prompt and the text so far, estimated (OpenAI counts a stream's
        tokens only in its last chunk, which never came). Each retry of a cut stream was billed
        and counted as nothing, so the ticket's budget never saw it (Anthropic's counts from
        its first event: anthropic_provider._billed). ``err`` may be the stream's own verdict
        (malformed, too long), an ApplicationError already."""
        error = err if isinstance(err, ApplicationError) else self._error(err)
        if not answered:
            return error  # nothing answered: the request may never have reached the model
        prompt = "".join(str(m.get("content") or "") for m in conversation)
        spent = Completion()
        spent.input_tokens = estimate_tokens(prompt)
        spent.output_tokens = estimate_tokens("".join(answered))
        spent.estimated = True
        return spending(error, spent)

    def _counted_tokens(self, completion: Completion) -> tuple[int, int]:
        # OpenAI counts a request's prompt plus the answer it may write (max_completion_tokens)
        # against the token limit when the request arrives: its rate-limit guide's advice is to
        # keep that setting near the answers' size.
        return completion.input_tokens, max(completion.output_tokens, self.config.max_output_tokens)

    def _conversation(self, spec: AgentSpec[Any, Any], request: Any) -> list[dict[str, Any]]:
        system = spec.instructions
        if self.config.structured_output == "json_object":
            schema = json.dumps(strict_json_schema(spec.output_model))
            system += f"\n\nAnswer with one JSON object that matches this JSON schema:\n{schema}"
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": spec.render_input(request)},
        ]

    def _response_format(self, spec: AgentSpec[Any, Any]) -> dict[str, Any]:
        if self.config.structured_output == "json_object":
            return {"type": "json_object"}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": spec.output_model.__name__,
                "schema": strict_json_schema(spec.output_model),
                "strict": True,
            },
        }

    async def _call(
        self, spec: AgentSpec[Any, Any], model: str, conversation: list[dict[str, Any]]
    ) -> Completion:
        parts: list[str] = []
        refusal: list[str] = []
        completion = Completion()
        body = {
            "model": model,
            "messages": conversation,
            "response_format": self._response_format(spec),
            "max_completion_tokens": self.config.max_output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        stream: _DoneSeen | None = None
        try:
            stream = await self._stream_json(
                self._client.post,
                CHAT_COMPLETIONS,
                body,
                _DoneSeen,
                lambda chunk: read_chunk(chunk, completion, parts, refusal),
                # A role-only first chunk is not the answer: a reasoning model sends it at once.
                lambda: bool(parts or refusal or completion.finish_reason),
            )
        except (openai.OpenAIError, *TRANSPORT_ERRORS) as err:
            # An error event (not a broken connection) is the error wherever it comes: it was
            # dropped after the usage chunk, and the answer used (docs/providers.md says not).
            stream_error = isinstance(err, openai.APIError) and not isinstance(
                err, openai.APIConnectionError
            )
            if stream_error and completion.input_tokens:
                # The usage chunk had come: what the provider counted, not an estimate.
                raise spending(self._error(err), completion) from None
            if stream_error or completion.finish_reason is None or not completion.input_tokens:
                raise self._cut(err, conversation, parts + refusal) from None
            # The answer was whole (its finish reason, then the usage chunk, the last before
            # [DONE]) when the connection broke: it was billed, so it is used, not asked again.
        except ApplicationError as err:
            # The stream's own verdicts (a chunk that does not parse, too many chunks or bytes)
            # after the answer had begun: billed, and counted as nothing before (as Anthropic's).
            raise self._cut(err, conversation, parts + refusal) from None
        if completion.finish_reason is None and not (stream is not None and stream.done):
            # The body ended with neither a finish reason nor [DONE] (a proxy that closed the
            # connection cleanly, an empty 200): not the model's answer, so not a repair round:
            # a failure to retry, with what it was billed. Usage alone does not make it whole:
            # servers that send it on every chunk (Gemini's compatible endpoint) had a cut answer
            # sent back for repair, billed twice and, cut again, failed as invalid output.
            error = to_application_error(
                ProviderFailure(self.name, STREAM_CUT_SHORT, connection=True), self._secrets
            )
            if completion.input_tokens:  # the server's own count came with its chunks
                raise spending(error, completion)
            raise self._cut(error, conversation, parts + refusal)
        completion.text = "".join(parts)
        if refusal:
            completion.refusal = "the model refused: " + "".join(refusal)
        if not completion.input_tokens and not completion.output_tokens:
            prompt = "".join(str(m.get("content") or "") for m in conversation)
            answer = "".join(parts) + "".join(refusal)
            self._estimate_usage(model, completion, prompt, answer)
        return completion

    def _repair(
        self, conversation: list[dict[str, Any]], completion: Completion, problem: str
    ) -> list[dict[str, Any]]:
        return [
            *conversation,
            {
                "role": "assistant",
                "content": completion.text or completion.refusal or "(no answer)",
            },
            {"role": "user", "content": REPAIR_INSTRUCTION.format(errors=problem)},
        ]

    async def check(self, models: Collection[str] = ()) -> str | None:
        """One cheap authenticated request when the worker starts: a rejected key is reported
        once, clearly, instead of failing every ticket; so are route models it does not list."""
        try:
            page = await self._client.models.list()
        except openai.AuthenticationError as err:
            reason = scrub(str(err.message), self._secrets)
            raise ProviderCheckError(
                key_rejected(self.name, self.config.api_key_env, err.status_code, reason)
            ) from None
        except (openai.OpenAIError, *TRANSPORT_ERRORS) as err:
            reason = self._error(err).message
            return check_failed(self.name, reason, err, self._client.base_url)
        return unlisted_models(self.name, models, listed_ids(page))

    async def aclose(self) -> None:
        await self._client.close()
