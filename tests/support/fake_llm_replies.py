"""What a FakeLLMServer answers and records: a scripted ``Reply``, each request as ``Recorded``,
and the valid answers every agent of the ticket pipeline accepts (``good_answers``)."""

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """One scripted answer. ``output`` is the structured answer (a dict) rendered in the
    provider's format; ``text`` replaces it with raw text (for invalid JSON)."""

    output: Any = None
    text: str | None = None
    status: int = 200
    error_type: str = "api_error"
    error_code: str | None = None
    error_message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)
    input_tokens: int = 100  # every prompt token, cached or not
    output_tokens: int = 20
    cached_tokens: int = 0  # of the input, read from the prompt cache
    cache_write_tokens: int = 0  # of the input, written to the prompt cache (Anthropic only)
    stall: bool = False  # send the start of the stream, then hang
    delay: float = 0.0  # seconds before answering
    # Seconds between the stream's headers and its first chunk (OpenAI's API): a server that
    # answers at once and queues the request (vLLM, SGLang), a reasoning model thinking.
    first_chunk_delay: float = 0.0
    # A chunk with the role alone first, at once, then the delay above (OpenAI's API: a reasoning
    # model's stream begins so, and its text comes once it has thought).
    role_chunk_first: bool = False
    disconnect: bool = False  # close the connection without answering (a transport error)
    # How many chunks the answer streams in: a real model sends about one per token.
    pieces: int = 2
    # The model the answer names; the requested one when None (a dated snapshot, a gateway's
    # substitute otherwise).
    answered_model: str | None = None

    @property
    def billed_tokens(self) -> int:
        """What a provider bills for this answer: 0 for an error or a dropped connection."""
        if self.status != 200 or self.disconnect or self.stall:
            return 0
        return self.input_tokens + self.output_tokens


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    reply: Reply | None = None  # what the server answered
    answered_at: float | None = None  # when its answer was written (time.monotonic())

    @property
    def api(self) -> str:
        return "anthropic" if self.path.endswith("/messages") else "openai"

    @property
    def output_name(self) -> str | None:
        """Which output model the request asks for: Classification, TriageResult, ..."""
        if self.api == "anthropic":
            tools = self.body.get("tools") or []
            name = tools[0]["name"] if tools else ""
            return "".join(part.title() for part in name.removeprefix("submit_").split("_")) or None
        fmt = self.body.get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("name")

    @property
    def text(self) -> str:
        return json.dumps(self.body)


# ---- answers that make the ticket pipeline work -------------------------------------------------

GOOD_OUTPUTS: dict[str, dict[str, Any]] = {
    "Classification": {"category": "Account", "confidence": 0.92, "rationale": "password reset"},
    "TriageResult": {
        "priority": "Medium",
        "rationale": "one customer, workaround exists",
        "cues": [],
    },
    "Draft": {
        "text": "Hello, you can reset your password from the sign-in page. Best regards.",
        "cited_articles": ["KB-101"],
    },
    "Validation": {"approved": True, "findings": []},
    "ReviewInsights": {"sentiment": "positive", "key_points": ["arrived quickly"]},
}


def good_answers(request: Recorded) -> Reply:
    """A valid answer for whichever agent the request is from."""
    name = request.output_name or ""
    if name not in GOOD_OUTPUTS:
        raise AssertionError(f"unexpected output model {name!r} in {request.path}")
    return Reply(output=GOOD_OUTPUTS[name])
