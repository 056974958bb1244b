"""Answers not in the shape of the provider's API, each a classified failure with a reason a
person can act on (they escaped as a cut stream, or unclassified, before).

A 200 answer in JSON where the stream asked for was expected (``"stream": true``).

Two kinds of server send one: a gateway that reports an error with status 200
(``{"error": {"code": "model_not_found", ...}}``), and a server (or a proxy in front of it)
that ignores streaming and answers with the whole completion. Read as a stream, either had no
event in it, so it ended as "the answer's stream ended early": a retryable connection failure,
tried five times (five whole answers billed, for the second kind, and their usage lost), with
the server's own words dropped. Neither can go better on a retry: the call fails for good
(``ProviderNotStreaming``), so the route after it or a person takes it, with what the server
said; a whole answer's usage is billed.
"""

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx2
from temporalio.exceptions import ApplicationError

from activities.providers.completion import Completion, spending, token_count
from activities.providers.errors import (
    INVALID_OUTPUT_TYPE,
    ProviderFailure,
    scrub,
    status_named,
    stream_error_status,
    to_application_error,
)

NOT_STREAMING_TYPE: Final = "ProviderNotStreaming"
# The most of such a body read: an error or one completion is a few kilobytes.
MAX_BODY_BYTES: Final = 256 * 1024


def is_json(content_type: str | None) -> bool:
    """Only a body that says it is JSON: a server that streams with another content type (or
    none) is read as a stream, as before."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def json_body(response: Any) -> Any:
    """The response's body as JSON (at most MAX_BODY_BYTES of it), or None."""
    data = bytearray()
    async for part in response.aiter_bytes():
        data += part
        if len(data) > MAX_BODY_BYTES:
            return None
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError):
        return None


def tokens_of(body: Any) -> Completion | None:
    """The usage in a whole answer: OpenAI's (prompt/completion tokens) or Anthropic's
    (input/output tokens)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    spent_in = usage.get("prompt_tokens", usage.get("input_tokens"))
    spent_out = usage.get("completion_tokens", usage.get("output_tokens"))
    if not isinstance(spent_in, int) or not isinstance(spent_out, int):
        return None
    # Checked as a stream's counts are: a boolean, or a count past any call's size (a
    # server's 1e20 billed the ticket ~$8e14 and tripped its budget; a review, 2026-12-08).
    return Completion(input_tokens=token_count(spent_in), output_tokens=token_count(spent_out))


def not_streaming_error(provider: str, body: Any, secrets: list[str]) -> Exception:
    """The classified failure, marked with what the provider billed for a whole answer
    (``spending``) for the provider's run to count."""
    error = body.get("error") if isinstance(body, dict) else None
    if error is not None:
        said = error.get("message") if isinstance(error, dict) else error
        code = error.get("code") or error.get("type") if isinstance(error, dict) else None
        what = f"{said}" + (f" ({code})" if code and str(code) not in str(said) else "")
        kinds = [error.get("code"), error.get("type")] if isinstance(error, dict) else []
        if any(status_named(kind) is not None for kind in kinds):
            # An error the API names (a gateway answering 200 with it): classified as its
            # status is, so a rate limit waits and retries as a 429 does. It failed the route
            # for good, whatever it said (a review, 2026-12-07).
            failure = ProviderFailure(
                provider,
                f"answered 200 with an error instead of the stream it was asked for: {what}",
                status=stream_error_status(*kinds),
                code=code if isinstance(code, str) else None,
            )
            return to_application_error(failure, secrets)
        message = (
            f"{provider} answered 200 with an error instead of the stream it was asked for: "
            f"{scrub(what, secrets)[:300]}"
        )
    elif body is None:
        message = f"{provider} answered 200 with a body that is neither a stream nor JSON it reads"
    else:
        message = (
            f"{provider} answered with a whole JSON answer, not the stream it was asked for "
            "(stream: true): the server, or a proxy in front of it, does not stream; point the "
            "provider's base_url at one that does"
        )
    err = ApplicationError(message, type=NOT_STREAMING_TYPE, non_retryable=True)
    billed = tokens_of(body) if error is None else None
    return spending(err, billed) if billed is not None else err


# A stream whose events are not the API's: data that is not JSON, or chunks of another shape.
MALFORMED_TYPE: Final = "ProviderMalformedAnswer"
# What reading an event or a chunk of the wrong shape raises (json's JSONDecodeError is a
# ValueError; a field of another type an AttributeError, TypeError, KeyError or IndexError;
# JSON nested thousands deep a RecursionError).
SHAPE_ERRORS: Final = (ValueError, AttributeError, TypeError, KeyError, IndexError, RecursionError)


def malformed_stream_error(
    provider: str, cause: BaseException, secrets: list[str]
) -> ApplicationError:
    """Retried like a 5xx (a proxy's hiccup may pass); the reason names the provider and what
    did not parse, never the answer's text."""
    what = scrub(f"{type(cause).__name__}: {cause}", secrets)[:200]
    return ApplicationError(
        f"{provider} sent an answer that is not in its API's format ({what}): a proxy or a "
        "compatible server that streams something else",
        type=MALFORMED_TYPE,
    )


# A streamed answer of more chunks than this many per token the request allowed (and some
# to spare: role, usage and empty chunks) is a server that does not keep to max_tokens: it was
# read until the attempt's timeout, the text held in memory.
CHUNKS_PER_TOKEN: Final = 4
SPARE_CHUNKS: Final = 1_000


def chunk_limit(body: dict[str, Any], configured: int) -> int:
    """The most chunks a streamed answer to ``body`` may take."""
    asked = body.get("max_tokens") or body.get("max_completion_tokens") or configured
    tokens = asked if isinstance(asked, int) and asked > 0 else configured
    return tokens * CHUNKS_PER_TOKEN + SPARE_CHUNKS


# The most bytes a streamed answer may take, per chunk it may have: a chunk is a few hundred
# bytes, a whole value of a tool's input (Anthropic streams them so) a few kilobytes, once.
# The chunk count alone left one event unbounded: the SDKs' SSE decoders gather the bytes of an
# event until its blank line, so a server sending bytes without one filled the worker's memory
# until the attempt's timeout.
BYTES_PER_CHUNK: Final = 1024


class StreamTooLarge(Exception):
    """Raised from the response's byte stream when it passes its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit:,} bytes")
        self.limit = limit


def read_at_most(response: httpx2.Response, limit: int) -> None:
    """``response``'s body, read from here on through ``aiter_bytes`` (as both SDKs' stream
    decoders read it), ends in ``StreamTooLarge`` past ``limit`` bytes, counted as decoded: a
    gzip stream of zeros is a thousand times its size once decompressed, and the raw bytes it
    came in let 200 MB through a 1 MiB limit."""
    decoded = response.aiter_bytes

    async def at_most(*args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        seen = 0
        async with contextlib.aclosing(decoded(*args, **kwargs)) as parts:
            async for part in parts:
                seen += len(part)
                if seen > limit:
                    raise StreamTooLarge(limit)
                yield part

    response.aiter_bytes = at_most  # type: ignore[method-assign]


def too_large_error(provider: str, limit: int) -> ApplicationError:
    """Not retried: the same request gets the same endless answer."""
    return ApplicationError(
        f"{provider} streamed more than {limit:,} bytes for an answer, past what the tokens the "
        "request allowed take: a server that does not keep to max_tokens or to its API's format",
        type=MALFORMED_TYPE,
        non_retryable=True,
    )


def too_long_error(provider: str, limit: int) -> ApplicationError:
    """Not retried: the same request gets the same endless answer."""
    return ApplicationError(
        f"{provider} streamed an answer of more than {limit:,} chunks, past the tokens the "
        "request allowed: a server that does not keep to max_tokens",
        type=MALFORMED_TYPE,
        non_retryable=True,
    )


def unsendable_error(provider: str) -> ApplicationError:
    """The conversation holds text no JSON encoder sends (a lone surrogate the model's own
    answer carried into the repair turn): the model's output is invalid, as a repair that cannot
    be asked for is."""
    return ApplicationError(
        f"{provider}: the model's answer held text that is not valid Unicode (a lone "
        "surrogate), so its repair could not be sent",
        type=INVALID_OUTPUT_TYPE,
        non_retryable=True,
    )
