"""A request with a body is refused before its body is read when it carries no token the API
knows: FastAPI reads and parses a route's JSON body before the route's dependencies check the
caller, so anyone could make the API parse up to the body limit per request (the intake rate
limit is per token, after the check). The routes still check the role; this only checks that
the token is one of the API's. The console's forms authenticate by cookie and pass through.

The routes that read a body check their role here too, and take their request from the token's
allowance here (intake its intake allowance, a review its read allowance): a submit token (the
one most likely to leak) made the API parse a megabyte for the review route before its 403, and
an intake or review body that did not parse was a 400 or 422 that never counted against the
token's allowance, so bad bodies could be sent without limit.
"""

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.accounts import Role
from api.deps import INTAKE_COUNTED, READ_COUNTED, account_for, intake_within, read_within
from api.errors import error_response
from api.security_headers import CONSOLE_PREFIX

BODILESS = {"GET", "HEAD", "OPTIONS", "DELETE"}


class TokenFirstMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") in BODILESS
            or path == CONSOLE_PREFIX
            or path.startswith(CONSOLE_PREFIX + "/")
        ):
            await self.app(scope, receive, send)
            return
        role = _role_for(scope.get("method", ""), path)
        try:
            account = account_for(scope["app"].state.registry, bearer_token(scope), role)
            if role is Role.SUBMIT:
                intake_within(scope["app"], account)
                scope.setdefault("state", {})[INTAKE_COUNTED] = True
            elif role is Role.REVIEW:
                read_within(scope["app"], account)
                scope.setdefault("state", {})[READ_COUNTED] = True
        except HTTPException as refused:
            status, detail = refused.status_code, str(refused.detail)
            await error_response(status, detail, headers=refused.headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


# The intake routes (api/routes/intake.py) and the review route (api/routes/review.py).
INTAKE_PATHS = frozenset({"/tickets", "/tickets/email"})


def _role_for(method: str, path: str) -> Role | None:
    """The role the route at ``path`` needs, for the routes that read a body (None: any token
    the API knows, the route checks)."""
    if method != "POST":
        return None
    if path in INTAKE_PATHS:
        return Role.SUBMIT
    parts = path.split("/")
    if len(parts) == 4 and parts[1] == "tickets" and parts[3] == "review":
        return Role.REVIEW
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as FastAPI's HTTPBearer reads
    it (the scheme in any case); None without one."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None
