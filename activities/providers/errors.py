"""Provider failures, classified in one place.

Each provider turns its SDK's exception into a ``ProviderFailure`` (plain facts: HTTP status,
error code, message, Retry-After); ``to_application_error`` decides what Temporal does with it:

- retryable, with backoff from the retry policy: timeouts, connection errors, 408, 409, 429
  (the next attempt waits for Retry-After when the provider sends one), 5xx, "overloaded";
- a 429 is also *benign* (``ApplicationErrorCategory.BENIGN``): the provider is busy, not
  unwell, and the call waits its turn. The SDK then logs the attempt at DEBUG instead of a
  warning with a traceback, and leaves it out of ``temporal_activity_execution_failed`` and off
  the error status of its ``RunActivity`` span; the product's own telemetry still counts it
  (``tickets_provider_failures_total{class="rate_limited"}``, the ``chat`` span's ``error.type``);
- non-retryable, with the provider's message: bad request, authentication, permission, not
  found, unprocessable, context length exceeded, spend limits reached.

The provider has the last word: a response header ``x-should-retry: false`` makes a failure that
would be retried non-retryable, ``x-should-retry: true`` makes one that would not be retried
retryable (the header the official SDKs honour too; OpenAI and Anthropic send it when they know
better than the status code).

Messages are scrubbed of the API key and anything that looks like one, and raised ``from None``:
SDK exceptions carry the request headers (the key in clear), and what an activity raises is
recorded in the workflow history.
"""

import asyncio
import email.utils
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import aiohttp
import httpx2
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.providers.idle_watch import AnswerOutOfTime, AnswerStalled
from shared import names

# An answer still streaming as its attempt's time ran out (idle_watch.AnswerOutOfTime): the
# provider answered, slowly; the setting is too short for it. Retried like a timeout, but not a
# failure for the circuit breaker (a slow, healthy model would pause its whole queue).
ANSWER_OUT_OF_TIME_TYPE: Final = "ProviderAnswerOutOfTime"
# Longest wait taken from a Retry-After header: a longer (or absurd) value is cut to this.
MAX_RETRY_AFTER: Final = timedelta(minutes=10)
RETRYABLE_STATUS: Final = frozenset({408, 409, 429})
# The type of a rate-limit failure: retried for as long as the call's time bound allows.
RATE_LIMITED_TYPE: Final = "ProviderRateLimited"
# The type of an "overloaded" answer (529, overloaded_error): the provider is busy, not unwell.
# Retried like a rate limit, for as long as the call's time bound allows (spells last minutes);
# the breaker still counts it, so a queue with a fallback route hands its calls on.
OVERLOADED_TYPE: Final = "ProviderOverloaded"
CONTEXT_LENGTH_HINTS: Final = (
    "context_length_exceeded",
    "context length",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    # Anthropic: "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000".
    "context limit",
)
SPEND_LIMIT_CODES: Final = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
    }
)
# Anthropic's "ramp_limit_exceeded" (429) is not one: it caps how fast usage may grow, and the
# SDK says to retry after its Retry-After. It is a rate limit (it was failed as a spend limit).
KEY_LIKE: Final = re.compile(
    r"(sk-[A-Za-z0-9_\-*]{6,}|Bearer\s+\S+|x-api-key:\s*\S+"
    # A server's masked echo of the key it refused ("gwl**********4242"): still a part of it.
    r"|[A-Za-z0-9_\-]{0,12}\*{4,}[A-Za-z0-9_\-]{0,12})",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ProviderFailure:
    provider: str
    message: str
    status: int | None = None  # HTTP status; None for timeouts and connection errors
    code: str | None = None  # provider's error code or type, e.g. context_length_exceeded
    retry_after: float | None = None  # seconds, from Retry-After / retry-after-ms
    timeout: bool = False
    # The timeout was the attempt's (its start-to-close), not the provider's timeout_seconds.
    attempt_timeout: bool = False
    # The answer under way stopped for its stall limit, not the provider's timeout_seconds.
    stalled: bool = False
    connection: bool = False
    should_retry: bool | None = None  # the provider's x-should-retry header, when it sent one


class ProviderCheckError(Exception):
    """A provider cannot be used at all (missing or rejected key): stop the worker, say why."""


# A failure's text is kept to FAILURE_TEXT_KEPT characters once scrubbed (``_classify``). Read
# from a provider's error at most FAILURE_TEXT_READ, far more: a cut made before the scrub that
# lands inside a key leaves a piece the scrub no longer matches (a gateway token without a
# key-like prefix kept 13 of its 21 characters), and one made this far out is cut off again.
FAILURE_TEXT_KEPT = 500
FAILURE_TEXT_READ = 4_000


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "[redacted]")
    return KEY_LIKE.sub("[redacted]", text)


def retry_after_seconds(
    headers: Mapping[str, str] | None, now: float | None = None
) -> float | None:
    """Seconds to wait from retry-after-ms, or retry-after as seconds or an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    zero = None
    if (ms := lowered.get("retry-after-ms")) is not None:
        try:
            # A negative one says nothing: it hid a valid retry-after beside it. Nor does a
            # zero, which the next attempt's delay drops: "retry-after-ms: 0" beside
            # "retry-after: 30" had the 429 retried after the policy's second.
            if math.isfinite(seconds := float(ms) / 1000) and seconds > 0:
                return seconds
            zero = 0.0 if seconds == 0 else None
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return zero
    try:
        seconds = float(value)
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        try:
            at = email.utils.mktime_tz(parsed)
        except (ValueError, OverflowError):  # a date no clock reaches ("year 99999")
            return None
        return max(at - (now if now is not None else time.time()), 0.0)


# An error event inside a stream arrives after the HTTP status 200; this is the status each
# documented error type stands for (Anthropic's and OpenAI's types and codes). An unknown type
# is taken as a server error.
STREAM_ERROR_STATUS: Final = {
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "api_error": 500,
    "overloaded_error": 529,
    # OpenAI-compatible servers name the exception class instead (vLLM, LiteLLM).
    "BadRequestError": 400,
    "AuthenticationError": 401,
    "PermissionDeniedError": 403,
    "NotFoundError": 404,
    "UnprocessableEntityError": 422,
    "RateLimitError": 429,
    "InternalServerError": 500,
    "ServiceUnavailableError": 503,
}


def stream_error_status(*kinds: object) -> int:
    """The status of a stream's error event from its code and type, the first one known: a
    documented type or code, or an HTTP status given as the code (vLLM sends ``"code": 400``,
    LiteLLM ``"code": "429"``; both were taken as a server error, a bad request retried and
    billed five times, a rate limit counted against the call's failures)."""
    return next((s for s in map(status_named, kinds) if s is not None), 500)


def status_named(kind: object) -> int | None:
    """The status an error's code or type names (a documented name, or an HTTP status given as
    the code), or None when it names none."""
    if isinstance(kind, str) and kind in STREAM_ERROR_STATUS:
        return STREAM_ERROR_STATUS[kind]
    text = str(kind).strip() if isinstance(kind, (str, int)) else ""
    return int(text) if text.isdigit() and 400 <= int(text) <= 599 else None


def should_retry_header(headers: Mapping[str, str] | None) -> bool | None:
    """The provider's own verdict from ``x-should-retry`` (true / false), None when absent."""
    if not headers:
        return None
    value = {k.lower(): v for k, v in headers.items()}.get("x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    return True if value == "true" else False if value == "false" else None


def is_spend_limit(failure: ProviderFailure) -> bool:
    """The account's quota or spend limit: by its code, or, behind a proxy that puts the HTTP
    status in the code (LiteLLM: ``"code": "429"``), by the upstream code in its message. It
    was a rate limit then, retried until the ticket's SLA ran out, its fallback never tried."""
    if (failure.code or "").lower() in SPEND_LIMIT_CODES:
        return True
    text = failure.message.lower()
    return failure.status in (429, 402, 403, None) and any(c in text for c in SPEND_LIMIT_CODES)


# A provider refusing the prompt under its content policy (OpenAI's "invalid_prompt ... flagged as
# potentially violating our usage policy", Azure OpenAI's "content_filter"): this ticket's text,
# not the request's shape, is what it refuses. Abusive or threatening tickets, which most need
# a person, ended FAILED as a permanent "bad request", with no review and no reply.
CONTENT_POLICY_CODES: Final = frozenset(
    {"content_filter", "content_policy_violation", "invalid_prompt"}
)
CONTENT_POLICY_HINTS: Final = ("usage policy", "content policy", "content management policy")


def is_content_refusal(failure: ProviderFailure) -> bool:
    text = failure.message.lower()
    return failure.status == 400 and (
        (failure.code or "").lower() in CONTENT_POLICY_CODES
        or any(hint in text for hint in CONTENT_POLICY_HINTS)
    )


def is_context_length(failure: ProviderFailure) -> bool:
    text = f"{failure.code or ''} {failure.message}".lower()
    return failure.status in (400, 413, None) and any(h in text for h in CONTEXT_LENGTH_HINTS)


# OpenAI answers a request whose prompt and max tokens together exceed the key's tokens per
# minute with a 429 (code rate_limit_exceeded) that no wait can pass: "Request too large for
# gpt-4o ... on tokens per min (TPM): Limit 30000, Requested 41000. The input or output tokens
# must be reduced in order to run successfully."
# (A 429 that only says "request too large" may be a burst over the per-minute budget, which a
# wait does pass: it stays a rate limit.)
MUST_BE_REDUCED: Final = "must be reduced"
LIMIT_AND_REQUESTED: Final = re.compile(r"limit:? (\d+), requested:? (\d+)", re.IGNORECASE)


def is_request_too_large(failure: ProviderFailure) -> bool:
    if MUST_BE_REDUCED in failure.message.lower():
        return True
    found = LIMIT_AND_REQUESTED.search(failure.message)
    return found is not None and int(found.group(2)) > int(found.group(1))


def to_application_error(failure: ProviderFailure, secrets: Iterable[str] = ()) -> ApplicationError:
    err = _classify(failure, secrets)
    if failure.should_retry is not None and err.non_retryable == failure.should_retry:
        # The provider's header overrides the status code's usual meaning, either way.
        verdict = "retry" if failure.should_retry else "do not retry"
        return ApplicationError(
            f"{err.message} (the provider says: {verdict})",
            type=err.type,
            non_retryable=not failure.should_retry,
            # A permanent error computed no delay: the provider's Retry-After still counts.
            next_retry_delay=retry_after_delay(failure) if failure.should_retry else None,
        )
    return err


def retry_after_delay(failure: ProviderFailure) -> timedelta | None:
    """The provider's Retry-After as the next attempt's delay (at most MAX_RETRY_AFTER)."""
    wait = failure.retry_after
    if wait is not None and math.isfinite(wait) and wait > 0:
        return timedelta(seconds=min(wait, MAX_RETRY_AFTER.total_seconds()))
    return None


def _classify(failure: ProviderFailure, secrets: Iterable[str]) -> ApplicationError:
    who = failure.provider
    message = scrub(failure.message, secrets)[:FAILURE_TEXT_KEPT]
    status = f" ({failure.status})" if failure.status else ""

    def retryable(
        kind: str,
        text: str,
        category: ApplicationErrorCategory = ApplicationErrorCategory.UNSPECIFIED,
    ) -> ApplicationError:
        delay = retry_after_delay(failure)
        return ApplicationError(text, type=kind, next_retry_delay=delay, category=category)

    def permanent(kind: str, text: str) -> ApplicationError:
        return ApplicationError(text, type=kind, non_retryable=True)

    if failure.attempt_timeout:
        return retryable(ANSWER_OUT_OF_TIME_TYPE, f"{who}: {message}")
    if failure.stalled:
        return retryable("ProviderTimeout", f"{who}: {message}")
    if failure.timeout:
        return retryable(
            "ProviderTimeout",
            f"{who} did not answer within its timeout_seconds ([providers.{who}]): {message}",
        )
    if failure.connection:
        return retryable("ProviderConnectionError", f"cannot reach {who}: {message}")
    if is_context_length(failure):
        return permanent(
            "ContextLengthExceeded", f"{who} refused the prompt as too long{status}: {message}"
        )
    if is_spend_limit(failure):
        return permanent("ProviderQuotaExceeded", f"{who} spend limit reached{status}: {message}")
    if is_content_refusal(failure):
        # As an answer no repair can fix: the next route is tried, and if every one refuses, a
        # person answers the ticket (the workflow hands invalid output to a review).
        return permanent(
            INVALID_OUTPUT_TYPE,
            f"{who} refused this ticket's text under its content policy{status}: {message}",
        )
    code = failure.status or 0
    if code == 429 and is_request_too_large(failure):
        return permanent(
            "ProviderRequestTooLarge",
            f"{who} refused a request larger than the key's tokens-per-minute limit allows"
            f"{status}; no retry can pass it (lower max_output_tokens, or a model with a higher "
            f"limit): {message}",
        )
    if code == 429:
        return retryable(
            RATE_LIMITED_TYPE,
            f"{who} rate limit{status}: {message}",
            ApplicationErrorCategory.BENIGN,
        )
    if code == 529 or (failure.code or "").lower() == "overloaded_error":
        return retryable(OVERLOADED_TYPE, f"{who} overloaded{status}: {message}")
    if code in RETRYABLE_STATUS or code >= 500:
        return retryable("ProviderUnavailable", f"{who} unavailable{status}: {message}")
    kinds = {
        400: "ProviderBadRequest",
        401: "ProviderAuthenticationError",
        403: "ProviderPermissionDenied",
        404: "ProviderNotFound",
        422: "ProviderUnprocessable",
    }
    return permanent(
        kinds.get(code, "ProviderRequestRejected"), f"{who} refused the request{status}: {message}"
    )


INVALID_OUTPUT_TYPE: Final = names.INVALID_OUTPUT_ERROR


def connection_failed_below(err: BaseException) -> bool:
    """Whether a timeout an SDK reports was a failed connection underneath. The SDKs' aiohttp
    transport (``DefaultAioHttpClient``, their vendored httpx_aiohttp) re-raises each aiohttp
    error as an httpx2 one, keeping it as the cause; the openai SDK's copy maps every aiohttp
    connection error, a refused connection or a server that hung up mid-answer included, to
    ``ConnectTimeout``, so the SDK calls it a timeout. aiohttp's own timeouts (``TimeoutError``
    subclasses) stay timeouts."""
    seen: BaseException | None = err
    for _ in range(10):  # a chain is a few links; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, aiohttp.ClientConnectionError) and not isinstance(
            seen, asyncio.TimeoutError
        ):
            return True
        seen = seen.__cause__
    return False


# What the HTTP transport raises below the SDKs' own error classes: httpx2's errors, and
# aiohttp's that the aiohttp transport passes on unmapped (a response head aiohttp refuses: a
# header line over 8,190 bytes, a malformed status line; the openai SDK does not wrap them).
TRANSPORT_ERRORS: Final = (httpx2.HTTPError, aiohttp.ClientError)


def transport_failure(err: Exception, provider: str) -> ProviderFailure:
    """A failure below either SDK's API errors: the HTTP transport, or anything unexpected."""
    if isinstance(err, AnswerOutOfTime):
        return ProviderFailure(provider, str(err), timeout=True, attempt_timeout=True)
    if isinstance(err, AnswerStalled):
        return ProviderFailure(provider, str(err), timeout=True, stalled=True)
    if isinstance(err, httpx2.TimeoutException) and not connection_failed_below(err):
        # Raised while reading the stream.
        return ProviderFailure(provider, "the response stopped arriving", timeout=True)
    if isinstance(err, aiohttp.ClientError) and isinstance(err, asyncio.TimeoutError):
        return ProviderFailure(provider, "the response stopped arriving", timeout=True)
    if isinstance(err, TRANSPORT_ERRORS):
        return ProviderFailure(
            provider, f"connection failed: {type(err).__name__}", connection=True
        )
    return ProviderFailure(provider, f"{type(err).__name__}: {err}")
