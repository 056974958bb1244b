"""A streamed Anthropic message, put together from its events as the JSON objects they are.

The SDK's ``messages.stream`` helper builds a pydantic model for every event and re-parses the
tool input's partial JSON after every delta; this provider reads the finished message once, so it
keeps the pieces and joins them at the end (see docs/performance.md). The events are the Messages
API's: message_start (usage so far), content_block_start / _delta / _stop, message_delta (stop
reason, usage), message_stop. ``ping`` and ``error`` events never get here: the SDK's stream
skips the first and raises the second.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from activities.providers.completion import token_count

# Which field of its block each delta type adds to.
DELTA_FIELDS = {
    "text_delta": "text",
    "input_json_delta": "partial_json",
    "thinking_delta": "thinking",
    "signature_delta": "signature",
}
# A block's signature arrives whole and replaces the placeholder; the other fields accumulate.
REPLACED_FIELDS = frozenset({"signature"})
# More content blocks than any message holds: a block index past it is not the API's (and
# filling the list up to it could take the worker's memory).
MAX_BLOCKS = 256
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


@dataclass
class StreamedMessage:
    stop_reason: str | None = None
    model: str | None = None  # the model that answered, as message_start names it
    usage: dict[str, int] = field(default_factory=dict)
    blocks: list[dict[str, Any]] = field(default_factory=list)
    # message_stop arrived: the answer is whole (a stream cut short is a transport failure).
    stopped: bool = False
    # message_delta arrived: its usage counts the whole answer (message_start's counts ~1
    # output token); and the text and tool input streamed so far, for a stream cut before it.
    answer_counted: bool = False
    streamed: list[str] = field(default_factory=list)
    # Each block's streamed pieces, by field, joined when the block stops.
    _pieces: dict[int, dict[str, list[str]]] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._usage(message.get("usage"))
            if isinstance(model := message.get("model"), str) and model:
                self.model = model[:200]
        elif kind == "content_block_start":
            index = _index(event)
            if index >= MAX_BLOCKS:
                raise IndexError(f"content block {index} of a message of at most {MAX_BLOCKS}")
            while len(self.blocks) <= index:
                self.blocks.append({})
            self.blocks[index] = dict(event.get("content_block") or {})
            self._pieces[index] = {}
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "citations_delta" and _index(event) < len(self.blocks):
                block = self.blocks[_index(event)]
                block["citations"] = [*(block.get("citations") or []), delta.get("citation")]
            name = DELTA_FIELDS.get(delta.get("type", ""))
            if name is not None and isinstance(delta.get(name), str):
                pieces = self._pieces.setdefault(_index(event), {})
                pieces.setdefault(name, []).append(delta[name])
                self.streamed.append(delta[name])
        elif kind == "content_block_stop":
            self._finish(_index(event))
        elif kind == "message_delta":
            self._usage(event.get("usage"))  # first: a malformed reason keeps the usage read
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason is not None and not isinstance(reason, str):
                # Classified here as a malformed event: a number failed later, building the
                # usage, unclassified and with the usage lost.
                raise TypeError("a message_delta's stop_reason is not text")
            self.stop_reason = reason or self.stop_reason
            self.answer_counted = True
        elif kind == "message_stop":
            self.stopped = True

    @property
    def whole(self) -> bool:
        """The answer is all here: message_stop arrived, or message_delta gave the stop reason
        after every block that streamed had stopped. Some compatible gateways close the
        connection after message_delta (and a connection may drop right there): the finished,
        billed answer was thrown away and asked for again."""
        return self.stopped or (self.stop_reason is not None and not self._pieces)

    def done(self) -> "StreamedMessage":
        """Join what a block still holds (a stream that ended without its block's stop)."""
        for index in list(self._pieces):
            self._finish(index)
        return self

    def content(self) -> list[dict[str, Any]]:
        """The blocks as the API takes them back in an assistant turn (for a repair round):
        no empty fields, none of this class's own keys, no gaps."""
        return [
            {k: v for k, v in block.items() if v is not None and not k.startswith("_")}
            for block in self.blocks
            if block.get("type")
        ]

    def tool_use(self) -> dict[str, Any] | None:
        return next((b for b in self.blocks if b.get("type") == "tool_use"), None)

    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.blocks if b.get("type") == "text")

    def _finish(self, index: int) -> None:
        pieces = self._pieces.pop(index, None)
        if pieces is None or index >= len(self.blocks):
            return
        block = self.blocks[index]
        for name, parts in pieces.items():
            joined = "".join(parts)
            if name == "partial_json":
                block["input"], bad = parse_input(joined)
                if bad is not None:
                    block["_invalid_input"] = bad
            elif name in REPLACED_FIELDS:
                block[name] = joined
            else:
                block[name] = (block.get(name) or "") + joined

    def _usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            for name in USAGE_FIELDS:
                if isinstance(usage.get(name), int):
                    self.usage[name] = token_count(usage[name])


def _index(event: dict[str, Any]) -> int:
    index = event.get("index")
    return index if isinstance(index, int) and index >= 0 else 0


def parse_input(text: str) -> tuple[Any, str | None]:
    """A tool call's input, and the raw text when it is not JSON (an answer cut off at
    max_tokens): the caller reports it as invalid output, which gets a repair round."""
    if not text.strip():
        return {}, None
    try:
        return json.loads(text), None
    except (ValueError, RecursionError):
        return {}, text
