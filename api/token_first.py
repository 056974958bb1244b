"""A request with a body is refused before its body is read when it carries no token the API
knows: FastAPI reads and parses a route's JSON body before the route's dependencies check the
caller, so anyone could make the API parse up to the body limit per request (the intake rate
limit is per token, after the check). The routes still check the role; this only checks that
the token is one of the API's. The console's forms authenticate by cookie and pass through.
"""

from fastapi import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import account_for
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
        try:
            account_for(scope["app"].state.registry, _bearer_token(scope), None)
        except HTTPException as refused:
            status, detail = refused.status_code, str(refused.detail)
            await error_response(status, detail, headers=refused.headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, as FastAPI's HTTPBearer reads
    it (the scheme in any case); None without one."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None
