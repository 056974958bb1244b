"""What a model is asked for and what it answers: the strict JSON schema sent with each agent
call, the answer as the providers hand it back (``Completion``), and its validation against the
agent's output model. ``structured.LLMProvider`` runs the calls around them."""

import copy
import functools
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from activities.providers.base import OutT
from shared.agents import Draft
from shared.orchestration import Synthesis, WorkResult
from shared.review import visible

E = TypeVar("E", bound=Exception)

# JSON-schema keywords every structured-output API accepts. Everything else (defaults, lengths,
# titles) is dropped from what the model sees; pydantic still enforces it on the answer, and a
# violation goes back to the model in the repair round.
KEPT_KEYWORDS: Final = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "$defs",
        "description",
        "additionalProperties",
        "minimum",
        "maximum",
    }
)

REPAIR_INSTRUCTION: Final = (
    "Your previous answer does not match the required schema: {errors}. "
    "Answer again with the complete, corrected answer only."
)


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the strict form structured outputs want: every object closed
    (additionalProperties false) with every property required, unsupported keywords removed.

    A fresh copy each time (callers put it in a request body); the schema itself is built once
    per model class: pydantic's schema generation was an eighth of an agent call's CPU."""
    return copy.deepcopy(_strict_schema(model))


@functools.cache
def _strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: clean(v) for k, v in node.items() if k in KEPT_KEYWORDS}
            if "properties" in node:
                out["properties"] = {k: clean(v) for k, v in node["properties"].items()}
            if "$defs" in node:
                out["$defs"] = {k: clean(v) for k, v in node["$defs"].items()}
            if out.get("type") == "object" and "properties" in out:
                out["additionalProperties"] = False
                out["required"] = list(out["properties"])
            return out
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return clean(model.model_json_schema())


def brief(err: ValidationError, limit: int = 5) -> str:
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}"
        for e in err.errors()[:limit]
    ]
    return "; ".join(parts)


# The finish reasons of an answer the provider cut off at the request's output limit (OpenAI's
# finish_reason, Anthropic's stop_reason).
# model_context_window_exceeded: Anthropic's answer ran into the model's context window.
CUT_OFF_AT_LIMIT: Final = frozenset({"length", "max_tokens", "model_context_window_exceeded"})
# The finish reasons of an answer the provider's safety layer stopped (OpenAI's and Azure's
# content_filter, Anthropic's refusal): a repair round re-sent the whole conversation (billed)
# to be refused again.
REFUSED_BY_PROVIDER: Final = frozenset({"content_filter", "refusal"})


@dataclass
class Completion:
    """One model call's answer: JSON text, or already-parsed data (Anthropic tool input)."""

    text: str | None = None
    data: Any = None
    input_tokens: int = 0  # every prompt token, cached or not
    output_tokens: int = 0
    cached_tokens: int = 0  # read from the prompt cache
    cache_write_tokens: int = 0  # written to the prompt cache (Anthropic)
    finish_reason: str | None = None
    # The model the answer names (a dated snapshot, a gateway's substitute), when it names one.
    response_model: str | None = None
    refusal: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # what the provider needs for a repair
    # The tokens were estimated from the text: the server sent no usage.
    estimated: bool = False


# More tokens than any one call is billed: a count past it is a server's garbage.
MAX_TOKENS_PER_CALL: Final = 100_000_000


def token_count(value: object) -> int:
    """A usage count as a provider or a compatible server sent it, as a count: not a number, or
    negative, is 0; past any call's size, that size. A gateway's ``"prompt_tokens": -1`` failed
    every workflow task of its ticket where the worker exports metrics (a counter refuses a
    negative value, in workflow code), and priced the call below nothing."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if value != value or value <= 0:  # NaN, negative, zero
        return 0
    return int(min(value, MAX_TOKENS_PER_CALL))


def spending(err: E, completion: Completion) -> E:
    """``err`` marked with what its request was billed before it failed (a stream cut after the
    provider counted the prompt, a whole answer where a stream was asked for): the provider's
    run counts it."""
    err.spent_before_failing = completion  # type: ignore[attr-defined]
    return err


def spent_before_failing(err: Exception) -> Completion | None:
    spent = getattr(err, "spent_before_failing", None)
    return spent if isinstance(spent, Completion) else None


# The field of an answer that is the text a customer (or the next agent) reads. Blank there
# (spaces, line breaks, zero-width characters: shared/review.visible) meets the schema's
# min_length: the draft went on to the validator, which found it empty and cost a whole
# revision round (two more calls) where a repair round asks once.
ANSWER_TEXT_FIELDS: Final[dict[type[BaseModel], str]] = {
    Draft: "text",
    WorkResult: "output",
    Synthesis: "answer",
}


def parse(output_model: type[OutT], completion: Completion) -> OutT:
    if completion.refusal:
        raise ValueError(completion.refusal[:300])
    if completion.data is not None:
        output = output_model.model_validate(completion.data)
    elif not completion.text:
        raise ValueError("the model returned no answer")
    else:
        output = output_model.model_validate_json(completion.text)
    field_name = ANSWER_TEXT_FIELDS.get(output_model)
    if field_name is not None and not visible(getattr(output, field_name)):
        raise ValueError(f"'{field_name}' is blank: write the answer itself in it")
    return output


def problem(err: Exception) -> str:
    return brief(err) if isinstance(err, ValidationError) else str(err)
