"""The HTTP side of the codec server: Temporal's remote codec protocol with an origin allow-list
and optional bearer tokens.

Protocol: ``POST .../encode`` and ``POST .../decode`` (only the last path segment matters, so a
proxy may put the server under a prefix; the namespace comes from the ``X-Namespace`` header, or
else from a one-segment prefix, ``/{namespace}/decode``), body and
answer ``{"payloads": [...]}`` in protobuf JSON. Browsers (the Web UI) send a CORS preflight
first; a request from an origin that is not allowed is refused outright (403), not just left
without CORS headers, so no page elsewhere can use a user's network position to decrypt.
"""

import asyncio
import hmac
import json
from collections.abc import Callable
from typing import TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from temporalio.api.common.v1 import Payloads
from temporalio.converter import DataConverter

from codec_server.payloads import decode_payloads, encode_payloads
from codec_server.settings import MAX_BODY_BYTES, CodecServerSettings, normal_origin

T = TypeVar("T")
ALLOWED_HEADERS = ["content-type", "x-namespace", "authorization"]
# Protobuf JSON is parsed and written in Python: about a second for a 16 MiB body. Bodies above
# this size are parsed and answered in a thread, so one big page of history does not hold up
# every other request (the UI sends one per page it shows) for that second.
THREAD_ABOVE_BYTES = 64 * 1024


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _read_body(request: Request) -> bytes | None:
    """The body, or None when it is larger than MAX_BODY_BYTES (read no further than that)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _off_loop(in_thread: bool, fn: Callable[..., T], *args: object) -> T:
    return await asyncio.to_thread(fn, *args) if in_thread else fn(*args)


def build_app(converter: DataConverter, settings: CodecServerSettings) -> FastAPI:
    app = FastAPI(title="ticket-agents codec server", docs_url=None, redoc_url=None)
    allowed = set(settings.allowed_origins)

    def refusal(request: Request) -> JSONResponse | None:
        origin = request.headers.get("origin")
        if origin is not None and normal_origin(origin) not in allowed:
            return _error(403, f"origin {origin[:100]} is not allowed to use this codec server")
        if settings.auth_token is not None:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), settings.auth_token.encode()
            ):
                return _error(401, "a bearer token is required (Authorization: Bearer ...)")
        # The header the Web UI and the CLI send wins; without it, a one-segment prefix is the
        # namespace (``/{namespace}/decode``). A longer prefix (a proxy's) names none.
        prefix = request.path_params.get("prefix") or ""
        namespace = request.headers.get("x-namespace") or (prefix if "/" not in prefix else None)
        if namespace and namespace != settings.namespace:
            return _error(404, f"this codec server serves namespace {settings.namespace}")
        return None

    async def handle(request: Request, decode: bool) -> Response:
        if (refused := refusal(request)) is not None:
            return refused
        body = await _read_body(request)
        if body is None:
            return _error(413, f"the request is larger than {MAX_BODY_BYTES:,} bytes")
        big = len(body) > THREAD_ABOVE_BYTES
        try:
            payloads = await _off_loop(big, json_format.Parse, body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError, json.JSONDecodeError):
            return _error(400, 'the body must be {"payloads": [...]} in protobuf JSON')
        transform = decode_payloads if decode else encode_payloads
        result = Payloads(payloads=await transform(converter, payloads.payloads))
        answer = await _off_loop(big, json_format.MessageToJson, result)
        return Response(answer, media_type="application/json")

    @app.post("/decode")
    @app.post("/{prefix:path}/decode")
    async def decode(request: Request) -> Response:
        return await handle(request, decode=True)

    @app.post("/encode")
    @app.post("/{prefix:path}/encode")
    async def encode(request: Request) -> Response:
        return await handle(request, decode=False)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # Outermost: answers preflights (OPTIONS) for allowed origins, and adds the CORS headers to
    # their responses; a preflight from any other origin gets 400 and no CORS headers.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
        max_age=600,
    )
    return app
