"""FakeLLMServer: a local HTTP server speaking the OpenAI and Anthropic wire formats.

The real openai and anthropic SDKs talk to it over HTTP on 127.0.0.1, so provider code is tested
end to end without the internet. Each test scripts what it answers (``push``), or sets a
``responder`` that answers by the output the request asks for; every request is recorded.

Endpoints: POST /v1/chat/completions and GET /v1/models (OpenAI, streamed as SSE when asked),
POST /v1/messages and GET /v1/models (Anthropic, streamed as SSE events).
"""

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.fake_llm_limits import SecondBucket
from tests.support.fake_llm_replies import GOOD_OUTPUTS, Recorded, Reply, good_answers
from tests.support.fake_llm_wire import WireFormats

__all__ = ["GOOD_OUTPUTS", "LISTED_MODELS", "FakeLLMServer", "Recorded", "Reply", "good_answers"]

# How long a stalled response hangs before the server gives up on it (a test ends sooner).
STALL_SECONDS = 30.0


LISTED_MODELS = (
    *("fake", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o-mini"),
    *("claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929"),
)


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a burst of new connections beyond that waits for TCP's
    # one-second SYN retry, which would show up as provider latency that is not there.
    request_queue_size = 128


class FakeLLMServer:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.responder: Callable[[Recorded], Reply] | None = None
        self.requests: list[Recorded] = []
        # With a rate, also declare it in every answer's headers, as OpenAI and Anthropic do
        # (activities/providers/rate_headers.py). Off by default: a provider that says nothing.
        self.rate_limit_headers = False
        self.rate_limited = 0
        # What GET /v1/models lists (real APIs list dated snapshots; the worker warns at start-up
        # about a route's model it does not find here).
        self.models = list(LISTED_MODELS)
        self._lock = threading.Lock()
        self._stall = threading.Event()
        # The request limit (limit()): answer 429 above it.
        self._requests: SecondBucket | None = None
        # A token limit, as OpenAI counts it: each request's prompt (``prompt_tokens_counted``,
        # the fake's replies' default input) plus the answer it may write (its
        # max_completion_tokens), from a bucket holding one second of the per-minute limit.
        self.tokens_per_minute: float | None = None
        self.prompt_tokens_counted = Reply.input_tokens
        self._tokens: SecondBucket | None = None
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # Polling for shutdown every 50 ms, not socketserver's 500: stopping took 0.25 s on
        # average, at every test's end.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ---- control ---------------------------------------------------------------------------------

    def __enter__(self) -> "FakeLLMServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stall.set()  # release stalled responses
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def limit(
        self,
        requests_per_second: float | None,
        headers: bool = False,
        refusals_count: bool = False,
    ) -> None:
        """Answer 429 above ``requests_per_second`` (None: never), starting from a full bucket;
        ``headers``: declare the limit in every answer, as OpenAI and Anthropic do;
        ``refusals_count``: a refused request counts against the limit too, as OpenAI's do."""
        with self._lock:
            self.rate_limit_headers = headers
            self._requests = (
                SecondBucket(requests_per_second, least=1.0, refusals_count=refusals_count)
                if requests_per_second is not None
                else None
            )

    @property
    def requests_per_second(self) -> float | None:
        return self._requests.rate if self._requests else None

    def limit_tokens(self, tokens_per_minute: float | None) -> None:
        """Answer 429 to a request whose counted tokens are above what is left of
        ``tokens_per_minute`` (None: never), starting from a full bucket; declared in every
        answer's ``x-ratelimit-limit-tokens`` header."""
        with self._lock:
            self.tokens_per_minute = tokens_per_minute
            self._tokens = (
                SecondBucket(tokens_per_minute / 60) if tokens_per_minute is not None else None
            )

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def calls(self, output_name: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == "POST" and (output_name is None or r.output_name == output_name)
        ]

    def billed_tokens(self, output_name: str | None = None) -> int:
        """Input and output tokens of every answer the server gave: what a provider bills."""
        return sum(r.reply.billed_tokens for r in self.calls(output_name) if r.reply)

    # ---- answering -------------------------------------------------------------------------------

    def refused(self, request: Recorded) -> bool:
        """Over a limit: the request bucket, then the token bucket (each takes its share)."""
        if self._requests is not None and not self._requests.take(1):
            return True
        if self._tokens is None:
            return False
        asked = request.body.get("max_completion_tokens") or request.body.get("max_tokens") or 0
        return not self._tokens.take(self.prompt_tokens_counted + int(asked))

    def _limit_headers(self, api: str) -> dict[str, str]:
        """The rate-limit headers of the provider whose wire format ``api`` is: the limit per
        minute, what is left in the bucket and when it is full again, and the token limit (in
        OpenAI's header: the token bucket counts as OpenAI does). (The fake's bucket holds one
        second of requests, not a minute's, so ``remaining`` counts down from R, not 60 R.)"""
        tokens = {}
        if self.tokens_per_minute is not None:
            tokens = {"x-ratelimit-limit-tokens": str(round(self.tokens_per_minute))}
        return {**self._request_limit_headers(api), **tokens}

    def _request_limit_headers(self, api: str) -> dict[str, str]:
        if not self.rate_limit_headers or self._requests is None:
            return {}
        rate, left = self._requests.rate, max(self._requests.left, 0.0)
        refill = max(self._requests.capacity - left, 0.0) / rate
        limit, remaining = str(round(rate * 60)), str(int(left))
        if api == "anthropic":
            full = datetime.now(UTC) + timedelta(seconds=refill)
            return {
                "anthropic-ratelimit-requests-limit": limit,
                "anthropic-ratelimit-requests-remaining": remaining,
                "anthropic-ratelimit-requests-reset": full.isoformat(timespec="seconds"),
            }
        return {
            "x-ratelimit-limit-requests": limit,
            "x-ratelimit-remaining-requests": remaining,
            "x-ratelimit-reset-requests": f"{refill:.3f}s",
        }

    def _next_reply(self, request: Recorded) -> Reply:
        reply = self._chosen_reply(request)
        with self._lock:
            limit = self._limit_headers(request.api)
        return replace(reply, headers={**limit, **reply.headers}) if limit else reply

    def _chosen_reply(self, request: Recorded) -> Reply:
        with self._lock:
            if self.refused(request):
                self.rate_limited += 1
                return Reply(
                    status=429,
                    error_type="rate_limit_error",
                    error_message="rate limit reached",
                    headers={"retry-after": "1"},
                )
            if self.script:
                return self.script.popleft()
        if self.responder is not None:
            return self.responder(request)
        raise AssertionError(f"the fake LLM server has no answer scripted for {request.path}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(WireFormats, BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A stream is several small writes; with Nagle's algorithm on, each waits for the
            # client's delayed ACK (~40 ms on Linux): latency no real provider adds.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _record(self, body: dict[str, Any]) -> Recorded:
                recorded = Recorded(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.monotonic(),
                )
                with server._lock:
                    server.requests.append(recorded)
                return recorded

            def _json(
                self, status: int, payload: Any, headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._record({})
                if self.path.split("?")[0].endswith("/models"):
                    auth = self.headers.get("authorization", "") + self.headers.get("x-api-key", "")
                    if "rejected" in auth:
                        # Like the real APIs, echo the key (OpenAI masks part of it) back.
                        key = auth.removeprefix("Bearer ")
                        self._error(
                            Reply(
                                status=401,
                                error_type="authentication_error",
                                error_message=f"Incorrect API key provided: {key}",
                            ),
                            "anthropic" if "anthropic-version" in self.headers else "openai",
                        )
                        return
                    self._json(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {"id": m, "object": "model", "created": 0, "owned_by": "t"}
                                | {"type": "model", "display_name": m}
                                | {"created_at": "2025-01-01T00:00:00Z"}
                                for m in server.models
                            ],
                            "has_more": False,
                            "first_id": server.models[0] if server.models else None,
                            "last_id": server.models[-1] if server.models else None,
                        },
                        # Real APIs send their rate-limit headers on every answer.
                        server._limit_headers(
                            "anthropic" if "anthropic-version" in self.headers else "openai"
                        ),
                    )
                    return
                self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                request = self._record(body)
                try:
                    self._answer(request)
                finally:
                    request.answered_at = time.monotonic()

            def _answer(self, request: Recorded) -> None:
                reply = server._next_reply(request)
                request.reply = reply
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.disconnect:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if reply.status != 200:
                    self._error(reply, request.api)
                elif request.api == "anthropic":
                    self._anthropic(reply, request)
                else:
                    self._openai(reply, request)

            def _error(self, reply: Reply, api: str) -> None:
                if api == "anthropic":
                    payload: dict[str, Any] = {
                        "type": "error",
                        "error": {"type": reply.error_type, "message": reply.error_message},
                    }
                else:
                    payload = {
                        "error": {
                            "message": reply.error_message,
                            "type": reply.error_type,
                            "code": reply.error_code,
                        }
                    }
                self._json(reply.status, payload, reply.headers)

            def _stream_headers(self, headers: dict[str, str]) -> None:
                # Chunked, on a connection that stays open, as the real APIs stream: a client
                # reuses it for its next call instead of connecting again.
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()

            def _send(self, chunk: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()

            def _end_stream(self) -> None:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _hold_stalled(self) -> None:
                server._stall.wait(STALL_SECONDS)
                self.close_connection = True  # the stream never ends: drop it

            def _pause(self, seconds: float) -> None:
                server._stall.wait(seconds)

        return Handler
