"""The API's requests as Prometheus metrics, served with its Temporal client's own metrics on
TICKETS_METRICS_ADDRESS (as the workers serve theirs): how many were answered, by route (the
route's template, never the path: a path names a ticket), method and status, and how long each
took. Traces say what one request did; these say how the API is doing (an alert on its 5xx)."""

import asyncio
import time
from collections.abc import Mapping
from datetime import timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.common import MetricMeter

from shared import metrics

# No route answered: a path no route matches (a scanner's guesses), or a request a middleware
# refused before routing (401 without a token, 413 for a declared oversize body, a cross-site
# form's 403); the status tells which. One label value, not one per path.
UNMATCHED = "unmatched"
# The methods counted by name; any other (a client may send any token) is "other": a label
# value a client chooses would make a series per request.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request cancelled before its answer began (the server shutting down, the client gone), or
# left unanswered because the client went away while it was being read: no
# 500 (an alert on the API's 5xx must not fire on every rolling restart), and not left out
# either. 499 is nginx's "client closed request", the status such requests usually carry.
CANCELLED_STATUS = 499


class RequestMetrics:
    """ASGI middleware counting every HTTP request the API answers."""

    def __init__(self, app: ASGIApp, meter: MetricMeter) -> None:
        self.app = app
        self._requests = meter.create_counter(
            metrics.API_REQUESTS, "HTTP requests the API answered, by route, method and status"
        )
        self._duration = meter.create_histogram_timedelta(
            metrics.API_REQUEST_DURATION, "Time the API took to answer an HTTP request"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500  # what the server answers when the app raises before it starts a response
        started_answer = client_gone = False

        async def receiving() -> Message:
            nonlocal client_gone
            message = await receive()
            client_gone = client_gone or message["type"] == "http.disconnect"
            return message

        async def sending(message: Message) -> None:
            nonlocal status, started_answer
            if message["type"] == "http.response.start":
                status, started_answer = message["status"], True
            await send(message)

        try:
            await self.app(scope, receiving, sending)
            # Returned with no answer because the client went away while sending its body (a
            # console form's upload cut off): no one to answer, and no 500 for the API's alert.
            if client_gone and not started_answer:
                status = CANCELLED_STATUS
        except asyncio.CancelledError:
            if status == 500 and not started_answer:
                status = CANCELLED_STATUS
            raise
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            where: Mapping[str, str] = {"route": route, "method": method}
            self._requests.add(1, {**where, "status": str(status)})
            self._duration.record(timedelta(seconds=time.monotonic() - started), where)
