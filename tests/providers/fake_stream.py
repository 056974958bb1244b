"""FakeStreamServer: a local HTTP server that answers every POST with a scripted raw SSE stream.

FakeLLMServer renders answers in each API's usual shape; this fake sends whatever events a test
scripts, for what FakeLLMServer cannot say: OpenAI refusal deltas, error events inside a stream,
pauses between events.
"""

import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from activities.providers.anthropic_provider import AnthropicProvider
from activities.providers.openai_provider import OpenAIProvider
from activities.providers.structured import LLMProvider
from shared.provider_config import default_prices, default_providers

Event = tuple[str | None, Any]  # (SSE event name, data: a JSON value or a raw string)
# An event named so is no event: the fake waits its data's seconds before the next one.
PAUSE = "(pause)"
# An event named so ends the connection with a reset (RST), as a proxy or a network fault does.
RESET = "(reset)"
# An event named so, first in a stream, holds the response's headers back for its data's seconds.
HOLD_HEADERS = "(hold headers)"
# Any key: the fake checks none (the providers' tests with keys use FakeLLMServer).
STREAM_KEY = "sk-test-stream"


class FakeStreamServer:
    def __init__(self) -> None:
        self.streams: deque[list[Event]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> "FakeStreamServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def push(self, *streams: list[Event]) -> None:
        self.streams.extend(streams)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                server.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                events = server.streams.popleft()
                if events and events[0][0] == HOLD_HEADERS:
                    time.sleep(events[0][1])
                    events = events[1:]
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                if any(name == RESET for name, _ in events):
                    # A body of a length it never reaches: the reset cuts it short (without a
                    # length, a closed connection ends the body as if whole).
                    self.send_header("content-length", str(1 << 20))
                self.end_headers()
                self.close_connection = True
                for name, data in events:
                    if name == PAUSE:
                        self.wfile.flush()
                        time.sleep(data)
                        continue
                    if name == RESET:
                        self.wfile.flush()
                        linger = struct.pack("ii", 1, 0)  # close at once, with a reset
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                        self.connection.close()
                        return
                    payload = data if isinstance(data, str) else json.dumps(data)
                    prefix = f"event: {name}\n" if name else ""
                    self.wfile.write(f"{prefix}data: {payload}\n\n".encode())
                self.wfile.flush()

        return Handler


@contextlib.asynccontextmanager
async def stream_provider(
    kind: str, fake: FakeStreamServer, **settings_: Any
) -> AsyncIterator[LLMProvider]:
    """The ``kind`` provider (openai or anthropic), with its default settings but
    ``settings_``, pointed at ``fake``; closed afterwards."""
    base_url = f"{fake.base_url}/v1" if kind == "openai" else fake.base_url
    settings = default_providers()[kind].model_copy(update={"base_url": base_url, **settings_})
    cls = OpenAIProvider if kind == "openai" else AnthropicProvider
    provider = cls(kind, settings, STREAM_KEY, default_prices())
    try:
        yield provider
    finally:
        await provider.aclose()
