"""What a provider's declared limits allow, per model, as requests per second.

A provider limits each model on its own, in requests a minute and in tokens a minute
(``rate_headers``). The task queue's rate is a rate of requests, so a token limit becomes one
through the tokens a request is counted for: a model limited to 60,000 tokens a minute whose
requests count 2,000 tokens each allows 0.5 requests a second, however many requests a minute
it would take. With the tokens most agent prompts carry, the token limit is usually the lower
of the two on the tiers most keys have.

What a request counts against a token limit is the provider's rule, not its bill
(``LLMProvider._counted_tokens``): OpenAI counts the prompt plus the answer's
``max_completion_tokens`` when the request arrives; Anthropic counts input tokens (not those read
from the prompt cache) against its input limit and output tokens against its output limit. The
tokens per request are a moving average of the requests this process answered, so one long
ticket does not swing the rate; until a model has answered once, only its request limit counts.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from activities.providers.rate_headers import TokenLimits, declared_token_limits
from activities.providers.rate_headers import declared_requests_per_second as request_limit
from shared.rate_control import MAX_DECLARED_PER_SECOND

# Weight of the newest request in the moving average of tokens per request: about the last
# ten requests decide it.
TOKENS_WEIGHT: Final = 0.2
PER_MINUTE: Final = 60.0


@dataclass
class ModelLimits:
    """One model's latest declared limits and what its requests are counted for."""

    requests_per_second: float | None = None
    tokens: TokenLimits = field(default_factory=TokenLimits)
    input_per_request: float | None = None
    output_per_request: float | None = None

    def spent(self, input_tokens: int, output_tokens: int) -> None:
        """One answered request counted ``input_tokens`` and ``output_tokens``."""
        if self.input_per_request is None or self.output_per_request is None:
            self.input_per_request, self.output_per_request = input_tokens, output_tokens
            return
        self.input_per_request += TOKENS_WEIGHT * (input_tokens - self.input_per_request)
        self.output_per_request += TOKENS_WEIGHT * (output_tokens - self.output_per_request)

    def token_rate(self) -> float | None:
        """Requests per second the token limits allow; None while nothing is known of either
        the limits or the requests."""
        if self.input_per_request is None or self.output_per_request is None:
            return None
        per_input, per_output = self.input_per_request, self.output_per_request
        rates = []
        if self.tokens.total and per_input + per_output > 0:
            rates.append(self.tokens.total / (per_input + per_output))
        if self.tokens.input and per_input > 0:
            rates.append(self.tokens.input / per_input)
        if self.tokens.output and per_output > 0:
            rates.append(self.tokens.output / per_output)
        # Under one request a minute is no limit a provider sells: a token limit smaller than
        # one request's count is a number misread, not a reason to stop.
        if not rates or min(rates) < 1:
            return None
        return min(rates) / PER_MINUTE

    def rate(self) -> float | None:
        """The lower of what the request limit and the token limits allow, requests/s."""
        known = [r for r in (self.requests_per_second, self.token_rate()) if r is not None]
        if not known:
            return None
        # A token limit over a tiny request count can say more than any limit a queue takes.
        return min(min(known), MAX_DECLARED_PER_SECOND)


class DeclaredLimits:
    """Every model's declared limits, as one provider process has seen them."""

    def __init__(self) -> None:
        self._models: dict[str, ModelLimits] = {}

    def _model(self, model: str) -> ModelLimits:
        return self._models.setdefault(model, ModelLimits())

    def headers_seen(self, model: str, headers: Mapping[str, str] | None) -> None:
        """An answer's headers (a 429's too): the model's latest limits replace its old ones."""
        rate, tokens = request_limit(headers), declared_token_limits(headers)
        if rate is None and tokens is None:
            return
        limits = self._model(model)
        if rate is not None:
            limits.requests_per_second = rate
        if tokens is not None:
            limits.tokens = tokens

    def spent(self, model: str, input_tokens: int, output_tokens: int) -> None:
        self._model(model).spent(input_tokens, output_tokens)

    def rate(self) -> float | None:
        """The lowest rate any model's limits allow (requests/s): one queue carries them all,
        so the lowest is what it can send to any of them without a 429."""
        rates = [r for limits in self._models.values() if (r := limits.rate()) is not None]
        return min(rates, default=None)
