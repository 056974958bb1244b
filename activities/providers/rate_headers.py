"""The request limit a provider declares in its response headers, as requests per second.

Both large APIs say their limit in every answer, successful or not:

- OpenAI (and compatible gateways that copy it): ``x-ratelimit-limit-requests``, the requests a
  minute the key may send to the model, with ``-remaining-requests`` and ``-reset-requests``;
- Anthropic: ``anthropic-ratelimit-requests-limit``, requests a minute, with ``-remaining`` and
  ``-reset``.

Only the limit is read. Both APIs refill their buckets continuously, so the sustained rate they
allow is the per-minute limit over 60; ``remaining`` and ``reset`` say how much of a minute's
burst is left, which the task queue's rate (a steady rate, not a burst) has no use for. Where a
key's limit is per day instead (some free tiers), the number read is far above what the key may
send; the adaptive controller treats a declared limit as an upper bound and still cuts on the
429s that follow (docs/rate-control.md).
"""

import math
from collections.abc import Mapping
from typing import Final

from shared.rate_control import MAX_DECLARED_PER_SECOND

LIMIT_HEADERS: Final = ("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit")
# Both headers count requests per minute.
PERIOD_SECONDS: Final = 60.0


def declared_requests_per_second(headers: Mapping[str, str] | None) -> float | None:
    """The provider's declared request limit in requests per second; None when the headers do
    not say one (or say something that is not a number of a believable size: at least one
    request a minute, at most ``MAX_DECLARED_PER_SECOND``)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in LIMIT_HEADERS:
        value = lowered.get(name)
        if value is None:
            continue
        try:
            per_minute = float(value.strip())
        except ValueError:
            continue
        rate = per_minute / PERIOD_SECONDS
        # Less than one request a minute is no limit a provider sells.
        if math.isfinite(rate) and per_minute >= 1 and rate <= MAX_DECLARED_PER_SECOND:
            return rate
    return None
