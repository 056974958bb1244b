"""A webhook receiver on 127.0.0.1 for delivery tests: records every request it gets and answers
what the test scripts (a status, headers, or a hang until released).

A plain threading HTTP server from the standard library, in a background thread of the test
process, so worker processes and in-process workers alike can deliver to it.
"""

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def document(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def ticket_id(self) -> str:
        return str(self.document["ticket_id"])


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    hang: bool = False  # wait until ``release()`` (or shutdown) before answering
    trickle: float = 0.0  # seconds between the body's bytes (until ``release()``)


# Given the request and how many earlier requests this ticket made, what to answer.
Script = Callable[[Received, int], Reply]


def always_ok(request: Received, earlier: int) -> Reply:
    return Reply()


class WebhookReceiver:
    def __init__(self, script: Script = always_ok) -> None:
        self.script = script
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received = Received(
                    path=self.path,
                    headers={k: v for k, v in self.headers.items()},
                    body=self.rfile.read(length),
                    at=time.monotonic(),
                )
                with receiver._lock:
                    earlier = sum(1 for r in receiver.requests if r.ticket_id == received.ticket_id)
                    receiver.requests.append(received)
                reply = receiver.script(received, earlier)
                if reply.hang:
                    receiver._released.wait(timeout=120)
                # The sender may have given up waiting (a hang past its timeout).
                with contextlib.suppress(OSError):
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    data = reply.body.encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if reply.trickle:
                        self.wfile.flush()
                        for i in range(len(data)):
                            if receiver._released.wait(timeout=reply.trickle):
                                break
                            self.wfile.write(data[i : i + 1])
                            self.wfile.flush()
                        else:
                            return
                        data = data[i:]
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/tickets"
        # Polling for shutdown every 50 ms, not socketserver's 500: stopping took 0.25 s on
        # average, at every test's end.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def release(self) -> None:
        """Let every hanging request answer (and later ones not hang on the same event)."""
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)

    def by_ticket(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = {}
        for request in self.snapshot():
            grouped.setdefault(request.ticket_id, []).append(request)
        return grouped


@contextmanager
def webhook_receiver(script: Script = always_ok) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(script)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
