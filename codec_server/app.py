"""The HTTP side of the codec server: Temporal's remote codec protocol with an origin allow-list
and optional bearer tokens.

Protocol: ``POST .../encode``, ``POST .../decode`` and ``POST .../download`` (only the last path
segment matters, so a proxy may put the server under a prefix; the namespace comes from the
``X-Namespace`` header, or else from a one-segment prefix, ``/{namespace}/decode``), body and
answer ``{"payloads": [...]}`` in protobuf JSON. Decode fetches external-storage references from
the payload store, unless asked ``?preserveStorageRefs=true``; download fetches references only.
Browsers (the Web UI) send a CORS preflight first; a request from an origin that is not allowed
is refused outright (403), not just left without CORS headers, so no page elsewhere can use a
user's network position to decrypt. That is all the allow-list does: a caller that is not a
browser sends any Origin it likes, or none, so without a token whatever reaches the port gets
plaintext (docs/privacy.md).

Limits: a body of at most 16 MiB holding at most 2,000 payloads, each with at most 64 metadata
entries and 16 external references (413 beyond any; the body's brackets, braces and commas are
counted against what those allow before it is parsed), read only once the request's turn came
and within 30 s; at most 4 requests worked on at a time with 32 more waiting (503 beyond those:
``Turns``), and 44 connections in all (uvicorn's ``limit_concurrency``), each closed when no
request head arrived within 10 s (http_protocol.py: silent sockets held every slot).
"""

import asyncio
import contextlib
import hmac
import json
import re
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter

from codec_server import audit
from codec_server.payloads import (
    ByteBudget,
    decode_in_thread,
    encode_in_thread,
    is_reference,
    resolve_references,
)
from codec_server.settings import (
    BODY_READ_SECONDS,
    MAX_BODY_BYTES,
    MAX_CONCURRENT_REQUESTS,
    MAX_EXTERNAL_REFERENCES,
    MAX_JSON_CONTAINERS,
    MAX_JSON_SEPARATORS,
    MAX_METADATA_ENTRIES,
    MAX_PAYLOADS,
    MAX_WAITING_REQUESTS,
    CodecServerSettings,
    normal_origin,
)
from codec_server.tokens import KeysUnavailable, TokenVerifier

# The Web UI sends its user's id token as Authorization-Extras beside the access token (its
# "pass access token" setting with an identity provider): a preflight naming a header not listed
# is refused, and the UI showed every payload encrypted.
ALLOWED_HEADERS = ["content-type", "x-namespace", "authorization", "authorization-extras"]
NOT_PAYLOADS = 'the body must be {"payloads": [...]} in protobuf JSON'
# A payload's fields in protobuf JSON (json_format also reads the proto names).
PAYLOAD_FIELDS = frozenset({"metadata", "data", "externalPayloads", "external_payloads"})
# How much of the parser's reason a refused payload's answer quotes.
MAX_REASON_CHARS = 200


class Refused(Exception):
    """A request this server answers with an error: the status and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request) -> bytes:
    """The body; Refused when it is larger than MAX_BODY_BYTES (read no further than that) or
    does not arrive within BODY_READ_SECONDS."""
    too_large = Refused(413, f"the request is larger than {MAX_BODY_BYTES:,} bytes")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise too_large
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), BODY_READ_SECONDS)
    except TimeoutError:
        raise Refused(
            408, f"the request's body did not arrive within {BODY_READ_SECONDS:g} s"
        ) from None
    return b"".join(chunks)


def _checked(listed: list[object]) -> None:
    """Each payload is an object of a payload's fields with a bounded number of metadata entries
    and external references: the count of payloads bounds the work only then."""
    for place, item in enumerate(listed):
        if not isinstance(item, dict):
            raise Refused(400, f"{NOT_PAYLOADS} (payload {place} is not one)")
        if unknown := set(item) - PAYLOAD_FIELDS:
            raise Refused(
                400,
                f"{NOT_PAYLOADS} (payload {place} has {_fields(unknown)}, which a payload has "
                "not: metadata, data and externalPayloads are read)",
            )
        # Both spellings json_format reads, each counted (the proto name went uncounted: 17
        # references spelled external_payloads passed where 17 spelled externalPayloads were
        # refused, and a 12 MB body of them took 14 s to parse).
        metadata = item.get("metadata") or {}
        external = [item.get(k) or [] for k in ("externalPayloads", "external_payloads")]
        if not isinstance(metadata, dict) or not all(isinstance(e, list) for e in external):
            raise Refused(400, f"{NOT_PAYLOADS} (payload {place} is not one)")
        external = [reference for spelling in external for reference in spelling]
        if len(metadata) > MAX_METADATA_ENTRIES or len(external) > MAX_EXTERNAL_REFERENCES:
            raise Refused(
                413,
                f"payload {place} has {len(metadata):,} metadata entries and {len(external):,} "
                f"external references; at most {MAX_METADATA_ENTRIES} and "
                f"{MAX_EXTERNAL_REFERENCES} are read",
            )


def _fields(names: set[str]) -> str:
    """Unexpected member names, as the answer quotes them: a few, each cut and printable (the
    caller's text; audit.shown)."""
    quoted = [repr(audit.shown(name, 40)) for name in sorted(names)[:3]]
    more = f" and {len(names) - 3:,} more" if len(names) > 3 else ""
    return f"the member{'s' if len(names) > 1 else ''} {', '.join(quoted)}{more}"


def parse_payloads(body: bytes) -> list[Payload]:
    """The request's payloads (blocking: protobuf JSON is parsed in Python, about a second for
    16 MiB). Refused (413) when it holds more than MAX_PAYLOADS, before any becomes a message,
    and when its bytes hold more objects, arrays or separators than that many payloads can,
    before any becomes a Python object."""
    containers = body.count(b"{") + body.count(b"[")
    separators = body.count(b",")
    if containers > MAX_JSON_CONTAINERS or separators > MAX_JSON_SEPARATORS:
        raise Refused(
            413,
            f"the request holds {containers:,} JSON objects and arrays and {separators:,} "
            f"commas; {MAX_PAYLOADS:,} payloads within their limits hold at most "
            f"{MAX_JSON_CONTAINERS:,} and {MAX_JSON_SEPARATORS:,}",
        )
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise Refused(400, NOT_PAYLOADS) from None
    if not isinstance(raw, dict):
        raise Refused(400, NOT_PAYLOADS)
    # Protocol-buffer JSON writes an empty list as nothing: ``{}`` (or a null) is no payloads.
    listed = raw.get("payloads")
    listed = [] if listed is None else listed
    if unknown := set(raw) - {"payloads"}:
        raise Refused(400, f"{NOT_PAYLOADS} (the body has {_fields(unknown)} beside payloads)")
    if not isinstance(listed, list):
        raise Refused(400, NOT_PAYLOADS)
    if len(listed) > MAX_PAYLOADS:
        raise Refused(
            413,
            f"the request holds {len(listed):,} payloads; at most {MAX_PAYLOADS:,} are decoded "
            "or encoded per request (send them a page at a time, as the Web UI does)",
        )
    _checked(listed)
    return [_payload(place, item) for place, item in enumerate(listed)]


# Base64 as protocol-buffer JSON writes bytes (the standard or the URL-safe alphabet, padded or
# not), and nothing else: the parser itself skips every other character.
BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def not_base64(value: object) -> bool:
    """Whether a bytes field's text is not base64. protobuf's parser refused only a length
    that could not work out: "hello-world" (plain text where base64 belongs) was read as other
    bytes, encrypted and answered 200, and failed where the payload was used."""
    if not isinstance(value, str):
        return False  # the parser names a value of the wrong type
    if not BASE64.fullmatch(value):
        return True
    bare = value.rstrip("=")
    return len(bare) % 4 == 1 or (bare != value and len(value) % 4 != 0)


def _base64_problem(item: dict[str, object]) -> str | None:
    """The first of a payload's bytes fields whose text is not base64, named, or None."""
    if not_base64(item.get("data")):
        return "its data is not base64"
    metadata = item.get("metadata")
    for name, value in metadata.items() if isinstance(metadata, dict) else ():
        if not_base64(value):
            return f"its metadata {audit.shown(str(name), 40)!r} is not base64"
    return None


def _payload(place: int, item: dict[str, object]) -> Payload:
    """One listed payload, or Refused naming it and what the parser found wrong (a bad one
    was answered with the body's form only, whichever of a page's payloads it was)."""
    if (problem := _base64_problem(item)) is not None:
        raise Refused(400, f"{NOT_PAYLOADS} (payload {place}: {problem})")
    try:
        return json_format.ParseDict(item, Payload())
    except (json_format.ParseError, ValueError, TypeError, AttributeError, RecursionError) as err:
        reason = audit.shown(str(err), MAX_REASON_CHARS)
        raise Refused(400, f"{NOT_PAYLOADS} (payload {place}: {reason})") from None


def answer_of(payloads: list[Payload]) -> bytes:
    """The answer's JSON, without indentation or spaces (blocking, like parsing)."""
    document = json_format.MessageToDict(Payloads(payloads=payloads))
    return json.dumps(document, separators=(",", ":")).encode()


class Turns:
    """At most ``at_once`` requests are parsed, transformed and answered at a time (each holds
    up to 16 MiB and its payloads in memory, and a worker thread); up to ``waiting`` more wait
    for their turn, as the Web UI's requests for one page do; beyond those, 503 at once."""

    def __init__(self, at_once: int, waiting: int) -> None:
        self.at_once, self.waiting = at_once, waiting
        self._semaphore = asyncio.Semaphore(at_once)
        self._waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._semaphore.locked() and self._waiting >= self.waiting:
            raise Refused(
                503,
                f"the codec server is busy ({self.at_once} requests in progress and "
                f"{self.waiting} waiting): try again in a moment",
            )
        self._waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._semaphore.release()


def build_app(
    converter: DataConverter,
    settings: CodecServerSettings,
    at_once: int = MAX_CONCURRENT_REQUESTS,
    waiting: int = MAX_WAITING_REQUESTS,
) -> FastAPI:
    app = FastAPI(title="ticket-agents codec server", docs_url=None, redoc_url=None)
    allowed = set(settings.allowed_origins)
    turns = Turns(at_once, waiting)

    verifier = (
        TokenVerifier(settings.tokens, settings.namespace) if settings.tokens is not None else None
    )

    async def refusal(request: Request) -> tuple[JSONResponse | None, str]:
        """The answer refusing the request, or None; and who the caller is (audit.py)."""
        origin = request.headers.get("origin")
        if origin is not None and normal_origin(origin) not in allowed:
            refused = _error(403, f"origin {origin[:100]} is not allowed to use this codec server")
            return refused, audit.NOT_AUTHENTICATED
        who = audit.NO_TOKEN_REQUIRED
        if settings.auth_token is not None or verifier is not None:
            refused, who = await unauthenticated(request)
            if refused is not None:
                return refused, who
        namespace = named_namespace(request)
        if namespace and namespace != settings.namespace:
            return _error(404, f"this codec server serves namespace {settings.namespace}"), who
        return None, who

    def named_namespace(request: Request) -> str | None:
        """The header the Web UI and the CLI send wins; without it, a one-segment prefix is
        the namespace (``/{namespace}/decode``). A longer prefix (a proxy's) names none."""
        prefix = request.path_params.get("prefix") or ""
        return request.headers.get("x-namespace") or (prefix if "/" not in prefix else None)

    async def unauthenticated(request: Request) -> tuple[JSONResponse | None, str]:
        """The answer for a request without a bearer token this server accepts: the shared
        token (TICKETS_CODEC_AUTH_TOKEN), or a user's access token from the identity provider
        (TICKETS_CODEC_JWKS_URL); and who the caller is."""
        nobody = audit.NOT_AUTHENTICATED
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _error(401, "a bearer token is required (Authorization: Bearer ...)"), nobody
        if settings.auth_token is not None and hmac.compare_digest(
            token.encode(), settings.auth_token.encode()
        ):
            return None, audit.SHARED_TOKEN
        if verifier is None:
            return _error(401, "the bearer token is not one this codec server accepts"), nobody
        try:
            verdict = await verifier.check(token)
        except KeysUnavailable as err:
            unavailable = _error(
                503, f"access tokens cannot be checked now: {err}", {"Retry-After": "5"}
            )
            return unavailable, nobody
        if verdict.problem is not None:
            return _error(401, verdict.problem), nobody
        if verdict.forbidden is not None:
            return _error(403, verdict.forbidden), audit.user(verdict.subject)
        return None, audit.user(verdict.subject)

    def encoded(payloads: list[Payload]) -> bytes:
        return answer_of(encode_in_thread(converter, payloads))

    def decoded(payloads: list[Payload], budget: ByteBudget) -> bytes:
        return answer_of(decode_in_thread(converter, payloads, budget))

    async def handle(request: Request, action: str) -> Response:
        namespace = named_namespace(request) or "-"
        refused, who = await refusal(request)
        if refused is not None:
            audit.record(request, action, who, refused.status_code, None, namespace)
            return refused
        counted: list[int] = []  # the request's payloads, once parsed
        status = 500  # until answered: an error or a cancellation is audited as one
        try:
            response = await answer(request, action, counted)
            status = response.status_code
            return response
        finally:
            audit.record(request, action, who, status, counted[0] if counted else None, namespace)

    async def answer(request: Request, action: str, counted: list[int]) -> Response:
        try:
            async with turns.turn():
                # Read in its turn: a request waiting for one holds no body in memory.
                body = await _read_body(request)
                # Parsing, the codecs and writing the answer are CPU work: in a worker thread.
                # Stored payloads are fetched on this loop (the store's connections are its).
                payloads = await asyncio.to_thread(parse_payloads, body)
                counted.append(len(payloads))
                if action == "encode":
                    answer = await asyncio.to_thread(encoded, payloads)
                else:
                    answer = await fetched_and_decoded(request, action, payloads)
        except Refused as err:
            headers = {"Retry-After": "1"} if err.status == 503 else None
            return _error(err.status, err.message, headers)
        except ClientDisconnect:  # the caller went away mid-body: nobody to answer
            return Response(status_code=400)
        return Response(answer, media_type="application/json")

    async def fetched_and_decoded(request: Request, action: str, payloads: list[Payload]) -> bytes:
        """Temporal's codec protocol with external storage: ``/decode`` fetches the references
        from the payload store unless asked ``?preserveStorageRefs=true`` (the Web UI's history
        page, which shows a reference and fetches it with ``/download`` when it is clicked);
        ``/download`` takes references only, and answers each fetched or not at all."""
        if action == "download" and not all(is_reference(p) for p in payloads):
            raise Refused(400, "all payloads must be storage references")
        # One budget for the references and the old claim checks alike.
        budget = ByteBudget()
        preserved = request.query_params.get("preserveStorageRefs", "").lower() == "true"
        if action == "download" or not preserved:  # a download is a fetch, whatever it asks
            payloads = await resolve_references(converter, payloads, budget)
        if action == "download" and (left := sum(is_reference(p) for p in payloads)):
            raise Refused(
                502,
                f"{left} of {len(payloads)} references could not be fetched: the payload store "
                "is not reachable from this server, no longer holds them, or they are past one "
                "request's limits (the server's log says which, when it tried)",
            )
        return await asyncio.to_thread(decoded, payloads, budget)

    @app.post("/decode")
    @app.post("/{prefix:path}/decode")
    async def decode(request: Request) -> Response:
        return await handle(request, "decode")

    @app.post("/download")
    @app.post("/{prefix:path}/download")
    async def download(request: Request) -> Response:
        return await handle(request, "download")

    @app.post("/encode")
    @app.post("/{prefix:path}/encode")
    async def encode(request: Request) -> Response:
        return await handle(request, "encode")

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
