"""Every error leaves the API as JSON with a sentence a person can act on, never a stack trace.

    {"message": "review refused: ticket T-1 is COMPLETED, not awaiting review", "problems": []}

``problems`` lists what is wrong field by field when a request does not validate.
"""

import contextlib
import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from api.accounts import Role
from api.body_limit import console_page, too_large_message, too_large_page
from api.redacted_traceback import chain, redacted_traceback, validation_errors
from api.security_headers import CONSOLE_ANSWER, EVERY_ANSWER, is_console
from api.server_logs import LOGGED_BY_API
from shared.operation_errors import (
    NoWorker,
    OperationError,
    ReviewRefused,
    ReviewTimeout,
    ServerUnreachable,
    TicketNotFound,
    TicketUnreadable,
)
from shared.stores.errors import StoreBusy, StoreUnavailable
from shared.validation import MAX_NAME_CHARS, NameGivenTwice, json_kind, too_long

log = logging.getLogger("api")


class ErrorBody(BaseModel):
    message: str
    problems: list[str] = Field(default_factory=list)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer with."""
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS[code]} for code in codes}


DESCRIPTIONS = {
    400: "the request cannot be used: a body that is not JSON text, an unknown page token, a "
    "query parameter the path does not take or one given twice",
    401: "no token, or a token this API does not know",
    403: "the token's roles do not allow this",
    404: "no such ticket",
    409: "the review cannot apply (the ticket is not waiting, or the draft changed); or every "
    "ticket's id is taken by an earlier ticket with other content",
    413: "the request body is larger than the API accepts",
    415: "the body was not sent as JSON: send it with Content-Type: application/json",
    422: "the request does not validate; problems names each field",
    429: "too many requests for this token; Retry-After says when to try again",
    502: "the ticket exists but cannot be read: its worker failed the status query, or a key "
    "is missing",
    503: "Temporal is unreachable, or no worker is running",
    504: "no worker answered in time",
}

_OPERATION_STATUS: list[tuple[type[OperationError], int]] = [
    (TicketNotFound, 404),
    (TicketUnreadable, 502),
    (ReviewRefused, 409),
    (ReviewTimeout, 504),
    (NoWorker, 503),
    (ServerUnreachable, 503),
]


def operation_status(exc: OperationError) -> int:
    """The status the API answers an operation's error with."""
    return next((code for kind, code in _OPERATION_STATUS if isinstance(exc, kind)), 503)


# The RPC errors the API answers with a status a client does not retry; every other is a 503.
_RPC_STATUS: dict[RPCStatusCode, int] = {
    RPCStatusCode.INVALID_ARGUMENT: 400,
    RPCStatusCode.NOT_FOUND: 404,
}


def answers_final(exc: Exception) -> bool:
    """Whether the API answers ``exc`` with a status a client does not retry (an RPC error
    Temporal refused or did not find; an operation's 4xx): every other is a 5xx."""
    if isinstance(exc, RPCError):
        return exc.status in _RPC_STATUS
    return isinstance(exc, OperationError) and operation_status(exc) < 500


class ApiError(Exception):
    """A refusal the route words itself, with the problems item by item."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems or []


def error_response(
    status: int,
    message: str,
    problems: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(message=message, problems=problems or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def field_problem(error: dict[str, Any]) -> str:
    """One validation error as "field 'x.y': what is wrong" (each part of the path cut to
    MAX_NAME_CHARS: an unknown field's name is the sender's, and forty of 20,000 characters made
    a review's 422 as long as its body)."""
    loc = [
        str(p)[:MAX_NAME_CHARS]
        for p in error.get("loc", ())
        if p not in ("body", "query", "path", "header")
    ]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    given, limit = error.get("input"), (error.get("ctx") or {}).get("max_length")
    if loc and error.get("type") == "string_too_long" and isinstance(given, str) and limit:
        return too_long(".".join(loc), given, limit)
    return f"field '{'.'.join(loc)}': {message}" if loc else message


def for_caller(request: Request, detailed: str, plain: str) -> str:
    """An infrastructure failure's sentence for this caller: with where and what (the Temporal
    server's address, the database's host and name) for a token that may read tickets; for an
    intake-only token, the most likely to sit in a web form or a mail gateway and leak, only
    what happened and a reference to the API's log, which has the rest."""
    account = getattr(request.state, "account", None)
    if account is None or account.may(Role.READ):
        return detailed
    reference = uuid.uuid4().hex[:12]
    log.warning("%s %s (reference %s): %s", request.method, request.url.path, reference, detailed)
    return f"{plain} (reference {reference}: the API's log has the details)"


async def _operation_error(request: Request, exc: Exception) -> JSONResponse:
    status = operation_status(exc)
    message = str(exc)
    if isinstance(exc, ServerUnreachable):
        plain = "the ticket service cannot be reached now; try again shortly"
        message = for_caller(request, message, plain)
    return error_response(status, message)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.problems)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if isinstance(exc.body, bytes | bytearray):
        # A route that reads JSON got the body as bytes: it was not sent as JSON. Pydantic would
        # say "field 'dict[str,any]': Input should be a valid dictionary".
        sent = request.headers.get("content-type")
        as_what = f"as {sent[:100]!r}" if sent else "with no Content-Type"
        return error_response(
            415,
            f"the request body was sent {as_what}; send JSON with Content-Type: application/json",
        )
    malformed = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if malformed is not None:
        # Pydantic's way would be "field '12': JSON decode error".
        said = str((malformed.get("ctx") or {}).get("error", "cannot be read"))[:100]
        at = malformed.get("loc", ())[1:2]
        where = f" (at character {at[0] + 1})" if at and isinstance(at[0], int) else ""
        return error_response(400, f"the request body is not valid JSON: {said}{where}")
    if all(_of_the_whole_body(e) for e in exc.errors()):
        # Pydantic's way: "field 'dict[str,any]': Input should be a valid dictionary; field
        # 'list[any]': ...", or "Field required" for an empty body.
        route = request.scope.get("route")
        wanted = BODY_SHAPES.get(getattr(route, "path", ""), "a JSON object (see /openapi.json)")
        sent = "empty (or null)" if exc.body is None else json_kind(exc.body)
        return error_response(422, f"the request body is {sent}; send {wanted}")
    errors = exc.errors()
    if is_console(request.url.path):
        # The console's forms are its own: a post they do not read (a file where a text field
        # goes) was not sent by its pages. A page, not the API's JSON.
        said = (
            "The form was not one the console sends: "
            + "; ".join(field_problem(e) for e in errors[:3])
            + ". Open the review queue to go on."
        )
        return HTMLResponse(console_page("Not understood", said), 422)
    problems = [field_problem(e) for e in errors[:MAX_FIELD_PROBLEMS]]
    if len(errors) > MAX_FIELD_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_FIELD_PROBLEMS:,} more")
    return error_response(422, "the request is not valid: " + "; ".join(problems[:3]), problems)


# How many of a body's field problems an answer names (the rest are counted), as intake's
# answers name at most 100 (api/routes/intake.py MAX_PROBLEMS_PER_RESPONSE).
MAX_FIELD_PROBLEMS = 100


# What each route's body is, said when a body of another shape comes.
BODY_SHAPES = {
    "/tickets": "one ticket object, or a list of them",
    "/tickets/email": 'one e-mail object: {"from": ..., "subject": ..., "text" (or "html"): ...}',
    "/tickets/{ticket_id}/review": 'one review object: {"action": ..., "revision": ...}',
}


def _of_the_whole_body(error: dict[str, Any]) -> bool:
    """A problem with the body as a whole (missing, or not of the route's type: a union's
    members are named like 'dict[str,any]'), not with a field inside it."""
    loc = error.get("loc", ())
    if not loc or loc[0] != "body":
        return False
    if len(loc) == 2 and isinstance(loc[1], str) and "[" in loc[1]:
        return True
    return len(loc) == 1 and error.get("type") in WHOLE_BODY_TYPES


# Pydantic's error types for a body that is missing or not an object of the model's kind (a
# model's own check of its fields together is not one of them).
WHOLE_BODY_TYPES = {"missing", "dict_type", "list_type", "model_type", "model_attributes_type"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "the request cannot be served"
    if exc.status_code == 413 and is_console(request.url.path):
        limit = request.app.state.settings.max_body_bytes
        return HTMLResponse(too_large_page(limit), status_code=413)
    if exc.status_code == 413:
        message = too_large_message(request.app.state.settings.max_body_bytes, request.url.path)
    elif exc.status_code == 404 and message == "Not Found":
        # /openapi.json is always served; /docs needs its scripts from a CDN (and may be off).
        message = f"no such path: {request.url.path} (the API's paths are in /openapi.json)"
    elif exc.status_code == 400 and message == "There was an error parsing the body":
        message = unparsable_body_message(exc.__cause__)
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    if is_console(request.url.path):
        # A page, as the console's other answers are: a browser showed the API's JSON raw (a
        # mistyped address, a sign-out link followed with GET; a form post no browser sends,
        # multipart with no boundary, was a JSON 400).
        titles = {404: "Not found", 405: "Not allowed"}
        said = (
            "The console has no such page." if exc.status_code == 404 else f"{message}."
        ) + " Open the review queue to go on."
        title = titles.get(exc.status_code, "Not understood")
        headers = getattr(exc, "headers", None)
        return HTMLResponse(console_page(title, said), exc.status_code, headers=headers)
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


def unparsable_body_message(cause: BaseException | None) -> str:
    """Why a JSON body could not be parsed, from the parser's exception (FastAPI says only
    "There was an error parsing the body")."""
    if isinstance(cause, RecursionError):
        return "the request body could not be parsed: its JSON nests arrays or objects too deeply"
    if isinstance(cause, NameGivenTwice):
        # The name is the caller's text, and may be as long as the body: cut short.
        return (
            f"the request body names {cause.name[:40]!r} twice in one object; give each field once"
        )
    if isinstance(cause, UnicodeDecodeError):
        return f"the request body is not UTF-8 (byte {cause.start + 1} is not valid there)"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return (
            "the request body could not be parsed: a number in it has more digits than the API "
            "reads (4,300)"
        )
    return "the request body could not be parsed as JSON text in UTF-8"


async def _rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    # The server's own words name its namespaces, ids and limits: an intake-only token gets a
    # reference to the log instead (for_caller), whatever the status.
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        said = f"the Temporal server refused the request: {exc.message}"
        return error_response(
            _RPC_STATUS[exc.status], for_caller(request, said, "the ticket service refused it")
        )
    if exc.status == RPCStatusCode.NOT_FOUND:
        said = f"not found on the Temporal server: {exc.message}"
        return error_response(_RPC_STATUS[exc.status], for_caller(request, said, "not found"))
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        said = f"the Temporal server is unavailable: {exc.message}"
        plain = "the ticket service is unavailable now; try again shortly"
        return error_response(503, for_caller(request, said, plain))
    if exc.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        return error_response(
            503, "the Temporal server refused the API's credentials; check its TEMPORAL_* settings"
        )
    said = f"the Temporal server answered: {exc.message}"
    plain = "the ticket service could not take the request now; try again shortly"
    return error_response(503, for_caller(request, said, plain))


def store_trouble(exc: Exception) -> str:
    """What is wrong, in the words a caller reads: the file payload store's lock held by an
    erasure or a collection, or the shared database."""
    if isinstance(exc, StoreBusy):
        return "the payload store is busy"
    return "the shared database is unavailable"


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The shared database (TICKETS_DATABASE_URL: large payloads) cannot be used: for now, like
    Temporal being down. Its sentence names the host and database, never a password."""
    return error_response(503, _store_message(request, exc))


def _store_message(request: Request, exc: Exception) -> str:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    what = store_trouble(exc)
    return for_caller(request, f"{what}: {exc}; try again shortly", f"{what}; try again shortly")


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Starlette answers this one outside every middleware: the headers every answer carries
    # (and on the console's pages, its policy and a page) are added here.
    if unavailable := next((e for e in chain(exc) if isinstance(e, StoreUnavailable)), None):
        said = _store_message(request, unavailable)
        on_console = f"The console could not answer: {said}."
        return _outermost(request, 503, said, on_console, title="Try again shortly")
    reference = uuid.uuid4().hex[:12]
    where = f"unexpected error (reference {reference}) on {request.method} {request.url.path}"
    if validation_errors(exc):
        # Pydantic's text quotes the values it refused (input_value=...): customer text, which
        # has no place in a log. The stack and the fields it names only.
        log.error("%s\n%s", where, redacted_traceback(exc))
    else:
        log.exception("%s", where)
    # uvicorn logs it again once Starlette re-raises it: without its traceback, being logged
    # here (api/server_logs.py). One _store_unavailable answered has no stack in the log.
    with contextlib.suppress(AttributeError):
        setattr(exc, LOGGED_BY_API, True)
    said = f"internal error (reference {reference}); the API's log has the details"
    return _outermost(
        request,
        500,
        said,
        f"The console could not answer: {said}. Open the ticket again to see what it holds "
        "before you send anything again.",
        title="Something went wrong",
    )


def _outermost(
    request: Request, status: int, said: str, on_console: str, *, title: str
) -> Response:
    """An answer made outside every middleware: the API's JSON with the headers every answer
    carries, or on the console's paths a page under the console's policy."""
    if is_console(request.url.path):
        page = console_page(title, on_console)
        return HTMLResponse(page, status, headers=_headers(EVERY_ANSWER | CONSOLE_ANSWER))
    return error_response(status, said, headers=_headers(EVERY_ANSWER))


def _headers(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(OperationError, _operation_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RPCError, _rpc_error)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
