"""The limits a provider declares in its response headers: requests (as requests per second)
and tokens (per minute, as the headers say them).

Both large APIs say their limit in every answer, successful or not:

- OpenAI (and compatible gateways that copy it): ``x-ratelimit-limit-requests``, the requests a
  minute the key may send to the model, with ``-remaining-requests`` and ``-reset-requests``;
- Anthropic: ``anthropic-ratelimit-requests-limit``, requests a minute, with ``-remaining`` and
  ``-reset``.

Token limits: OpenAI's ``x-ratelimit-limit-tokens`` (input and output together, a minute);
Anthropic's ``anthropic-ratelimit-input-tokens-limit`` and ``-output-tokens-limit`` (each a
minute), and ``anthropic-ratelimit-tokens-limit``, the most restrictive of the two, read only
when neither of them is there (then as a limit on both together, the safe reading).
``declared_limits`` turns them into requests per second.

Only the limits are read. Both APIs refill their buckets continuously, so the sustained rate they
allow is the per-minute limit over 60; ``remaining`` and ``reset`` say how much of a minute's
burst is left, which the task queue's rate (a steady rate, not a burst) has no use for. Where a
key's limit is per day instead (some free tiers), the number read is far above what the key may
send; the adaptive controller treats a declared limit as an upper bound and still cuts on the
429s that follow (docs/rate-control.md).
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from shared.rate_control import MAX_DECLARED_PER_SECOND

LIMIT_HEADERS: Final = ("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit")
# Both headers count requests per minute.
PERIOD_SECONDS: Final = 60.0
TOTAL_TOKEN_HEADERS: Final = ("x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit")
INPUT_TOKEN_HEADER: Final = "anthropic-ratelimit-input-tokens-limit"
OUTPUT_TOKEN_HEADER: Final = "anthropic-ratelimit-output-tokens-limit"
# No provider sells a key more tokens a minute than this; a bigger number is not a limit.
MAX_TOKENS_PER_MINUTE: Final = 1e12


@dataclass(frozen=True)
class TokenLimits:
    """Tokens a minute: input and output together, input alone, output alone (None: not
    declared)."""

    total: float | None = None
    input: float | None = None
    output: float | None = None


def _per_minute(lowered: Mapping[str, str], name: str, most: float) -> float | None:
    value = lowered.get(name)
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and 1 <= number <= most else None


def declared_requests_per_second(headers: Mapping[str, str] | None) -> float | None:
    """The provider's declared request limit in requests per second; None when the headers do
    not say one (or say something that is not a number of a believable size: at least one
    request a minute, at most ``MAX_DECLARED_PER_SECOND``)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in LIMIT_HEADERS:
        # Less than one request a minute is no limit a provider sells.
        per_minute = _per_minute(lowered, name, MAX_DECLARED_PER_SECOND * PERIOD_SECONDS)
        if per_minute is not None:
            return per_minute / PERIOD_SECONDS
    return None


def declared_token_limits(headers: Mapping[str, str] | None) -> TokenLimits | None:
    """The provider's declared token limits a minute; None when the headers say none (or only
    numbers that are not believable limits)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    given = TokenLimits(
        input=_per_minute(lowered, INPUT_TOKEN_HEADER, MAX_TOKENS_PER_MINUTE),
        output=_per_minute(lowered, OUTPUT_TOKEN_HEADER, MAX_TOKENS_PER_MINUTE),
    )
    if given.input is None and given.output is None:
        for name in TOTAL_TOKEN_HEADERS:
            if (total := _per_minute(lowered, name, MAX_TOKENS_PER_MINUTE)) is not None:
                return TokenLimits(total=total)
        return None
    return given
