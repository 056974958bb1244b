"""How FakeLLMServer answers a successful call, in each provider's streamed wire format: OpenAI's
chat-completion chunks and Anthropic's message events, with usage as each API reports it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.fake_llm import Recorded, Reply


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def split(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` parts (fewer if it is shorter), as a model streams its answer."""
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class WireFormats:
    """Mixed into the fake server's request handler, which provides ``_json``, ``_stream_headers``,
    ``_send``, ``_end_stream``, ``_hold_stalled`` (a stalled reply hangs mid-stream until
    released) and ``_pause`` (a wait the test's end cuts short)."""

    def _stream_headers(self, headers: dict[str, str]) -> None:
        raise NotImplementedError

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        raise NotImplementedError

    def _hold_stalled(self) -> None:
        raise NotImplementedError

    def _pause(self, seconds: float) -> None:
        raise NotImplementedError

    def _send(self, chunk: bytes) -> None:
        raise NotImplementedError

    def _end_stream(self) -> None:
        raise NotImplementedError

    def _openai(self, reply: Reply, request: Recorded) -> None:
        content = reply.text if reply.text is not None else json.dumps(reply.output)
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": reply.answered_model or request.body.get("model", "fake"),
        }
        if not request.body.get("stream"):
            self._json(
                200,
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": self._openai_usage(reply),
                },
                reply.headers,
            )
            return
        self._stream_headers(reply.headers)
        if reply.role_chunk_first:
            role = {"role": "assistant", "content": ""}
            self._send(
                _sse({**base, "choices": [{"index": 0, "delta": role, "finish_reason": None}]})
            )
        if reply.first_chunk_delay:
            self._pause(reply.first_chunk_delay)
        for n, piece in enumerate(split(content, reply.pieces)):
            delta = {"role": "assistant", "content": piece} if n == 0 else {"content": piece}
            self._send(
                _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
            )
            if n == 0 and reply.stall:
                self._hold_stalled()
                return
        self._send(_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        self._send(_sse({**base, "choices": [], "usage": self._openai_usage(reply)}))
        self._send(_sse("[DONE]"))
        self._end_stream()

    @staticmethod
    def _openai_usage(reply: Reply) -> dict[str, Any]:
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        }

    def _anthropic(self, reply: Reply, request: Recorded) -> None:
        tools = request.body.get("tools") or []
        tool = tools[0]["name"] if tools else "submit"
        uncached = reply.input_tokens - reply.cached_tokens - reply.cache_write_tokens
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": reply.answered_model or request.body.get("model", "fake"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": uncached,
                "output_tokens": 1,
                "cache_read_input_tokens": reply.cached_tokens,
                "cache_creation_input_tokens": reply.cache_write_tokens,
            },
        }
        self._stream_headers(reply.headers)
        self._send(_sse({"type": "message_start", "message": message}, "message_start"))
        if reply.text is not None:  # a text answer instead of the tool call
            block: dict[str, Any] = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": reply.text}
            stop = "end_turn"
        else:
            block = {"type": "tool_use", "id": "toolu_fake", "name": tool, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(reply.output)}
            stop = "tool_use"
        self._send(
            _sse(
                {"type": "content_block_start", "index": 0, "content_block": block},
                "content_block_start",
            )
        )
        if reply.stall:
            self._hold_stalled()
            return
        field = "text" if reply.text is not None else "partial_json"
        for piece in split(delta[field], reply.pieces):
            self._send(
                _sse(
                    {"type": "content_block_delta", "index": 0, "delta": {**delta, field: piece}},
                    "content_block_delta",
                )
            )
        self._send(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        self._send(
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": reply.output_tokens},
                },
                "message_delta",
            )
        )
        self._send(_sse({"type": "message_stop"}, "message_stop"))
        self._end_stream()
