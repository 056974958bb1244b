"""Every error leaves the API as JSON with a sentence a person can act on, never a stack trace.

    {"message": "review refused: ticket T-1 is COMPLETED, not awaiting review", "problems": []}

``problems`` lists what is wrong field by field when a request does not validate.
"""

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from temporalio.service import RPCError, RPCStatusCode

from api.body_limit import too_large_message
from shared.operation_errors import (
    NoWorker,
    OperationError,
    ReviewRefused,
    ReviewTimeout,
    ServerUnreachable,
    TicketNotFound,
    TicketUnreadable,
)

log = logging.getLogger("api")


class ErrorBody(BaseModel):
    message: str
    problems: list[str] = Field(default_factory=list)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer with."""
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS[code]} for code in codes}


DESCRIPTIONS = {
    400: "the request cannot be used: a body that is not JSON text, an unknown page token",
    401: "no token, or a token this API does not know",
    403: "the token's roles do not allow this",
    404: "no such ticket",
    409: "the review cannot apply (the ticket is not waiting, or the draft changed); or every "
    "ticket's id is taken by an earlier ticket with other content",
    413: "the request body is larger than the API accepts",
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
    """One validation error as "field 'x.y': what is wrong"."""
    loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"field '{'.'.join(loc)}': {message}" if loc else message


async def _operation_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _OPERATION_STATUS if isinstance(exc, kind)), 503)
    return error_response(status, str(exc))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.problems)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [field_problem(e) for e in exc.errors()]
    return error_response(422, "the request is not valid: " + "; ".join(problems[:3]), problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "the request cannot be served"
    if exc.status_code == 413:
        message = too_large_message(request.app.state.settings.max_body_bytes)
    elif exc.status_code == 404 and message == "Not Found":
        message = f"no such path: {request.url.path} (the API's paths are listed at /docs)"
    elif exc.status_code == 400 and message == "There was an error parsing the body":
        message = "the request body is not JSON text in UTF-8"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _rpc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RPCError)
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return error_response(400, f"the Temporal server refused the request: {exc.message}")
    if exc.status == RPCStatusCode.NOT_FOUND:
        return error_response(404, f"not found on the Temporal server: {exc.message}")
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return error_response(503, f"the Temporal server is unavailable: {exc.message}")
    if exc.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        return error_response(
            503, "the Temporal server refused the API's credentials; check its TEMPORAL_* settings"
        )
    return error_response(503, f"the Temporal server answered: {exc.message}")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception(
        "unexpected error (reference %s) on %s %s", reference, request.method, request.url.path
    )
    return error_response(
        500, f"internal error (reference {reference}); the API's log has the details"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(OperationError, _operation_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RPCError, _rpc_error)
    app.add_exception_handler(Exception, _unexpected)
