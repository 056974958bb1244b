"""Refuse request bodies over a limit with 413 before anything parses them.

A declared Content-Length over the limit is refused without reading a byte; a body sent in chunks
is counted as it arrives and refused as soon as it passes the limit. (FastAPI's own
``max_body_size`` answers in plain text from outside the exception handlers; this one answers in
the API's JSON like every other error, and the review console's forms with a page.)
"""

import html
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.security_headers import is_console


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing lets it through to the API's handlers."""

    def __init__(self) -> None:
        super().__init__(413, "the request body is too large")


# The one route where a smaller body is a matter of sending less at once.
BULK_PATH = "/tickets"


def too_large_message(max_bytes: int, path: str, declared: int | None = None) -> str:
    """What a 413 says; the advice to send fewer tickets only where a request can carry several
    (a review or an e-mail told so had nothing to split)."""
    size = f" ({declared:,} bytes)" if declared is not None else ""
    advice = "; send fewer tickets per request" if path.rstrip("/") == BULK_PATH else ""
    return f"the request body{size} is larger than this API accepts ({max_bytes:,} bytes){advice}"


def console_page(title: str, said: str) -> bytes:
    """A console's answer that no route rendered (a refused form, an unexpected error): a page,
    not the API's JSON (which a browser shows raw)."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1><p>{html.escape(said)}</p>"
        '<p><a href="/console/queue">The review queue</a></p></body></html>'
    ).encode()


def too_large_page(max_bytes: int, declared: int | None = None) -> bytes:
    """The console's 413: nothing was applied, and what to do (a review whose edited answer
    passed the limit showed the browser raw JSON)."""
    size = f" ({declared:,} bytes)" if declared is not None else ""
    return console_page(
        "Too long to send",
        f"What you sent{size} is larger than the console accepts ({max_bytes:,} bytes), so "
        "nothing was applied. Go back to the form, shorten the answer and send it again.",
    )


HTML = b"text/html; charset=utf-8"


# The console's forms: its longest (a review: 8,000 + 4,000 + 1,000 characters, each up to 12
# bytes percent-encoded) fits with room to spare. They are parsed on the event loop before any
# route or session check, and anyone may post one: a 1 MiB body of '&' held the whole API for
# half a second. A console form has a few fields: many more is not one of ours.
CONSOLE_MAX_BYTES = 192 * 1024
CONSOLE_MAX_FIELDS = 32
NOT_A_CONSOLE_FORM = console_page(
    "Not a console form", "What was sent is not a form of this console, so nothing was applied."
)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if is_console(scope["path"]) and scope.get("method") == "POST":
            await self._console_form(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if is_console(scope["path"]):
                await _refuse(send, too_large_page(self.max_bytes, declared), HTML)
            else:
                message = too_large_message(self.max_bytes, scope["path"], declared)
                await _refuse(send, json.dumps({"message": message, "problems": []}).encode())
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        await self.app(scope, counting_receive, send)

    async def _console_form(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A console form, read whole within its limit and its fields counted (C-speed) before
        the form parser sees it; then handed on as it came."""
        limit = min(self.max_bytes, CONSOLE_MAX_BYTES)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, too_large_page(limit, declared), HTML)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _refuse(send, too_large_page(limit), HTML)
                return
        if body.count(b"&") + body.count(b";") >= CONSOLE_MAX_FIELDS:
            await _refuse(send, NOT_A_CONSOLE_FORM, HTML, status=400)
            return
        whole: Message = {"type": "http.request", "body": bytes(body), "more_body": False}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return whole
            return await receive()  # after the body: a disconnect, as the server sends it

        await self.app(scope, replay, send)


async def _refuse(
    send: Send, data: bytes, kind: bytes = b"application/json", status: int = 413
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
