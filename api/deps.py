"""What routes depend on: the settings, the Temporal client, the caller's account and its
allowances (intake, reports)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.accounts import IMPLIED, Account, Role, TokenRegistry
from api.rate_limit import RateLimiter
from api.settings import ApiSettings
from api.temporal import TemporalConnection

# auto_error=False: a missing or malformed header gets this API's own 401 message, not a bare one.
bearer = HTTPBearer(auto_error=False, description="an API token: `Authorization: Bearer tka_...`")


def settings(request: Request) -> ApiSettings:
    value: ApiSettings = request.app.state.settings
    return value


def registry(request: Request) -> TokenRegistry:
    value: TokenRegistry = request.app.state.registry
    return value


def temporal(request: Request) -> TemporalConnection:
    value: TemporalConnection = request.app.state.temporal
    return value


async def client(request: Request) -> Client:
    return await temporal(request).client()


def unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(account: Account, role: Role) -> HTTPException:
    held = ", ".join(sorted(account.roles))
    # Every role that grants it ("needs the read role" sent a reviewer's admin to make a read
    # token that review already includes).
    granting = [str(r) for r in Role if r == role or role in IMPLIED.get(r, ())]
    needed = granting[0] if len(granting) == 1 else ", ".join(granting[:-1]) + f" or {granting[-1]}"
    return HTTPException(
        403, f"the token of {account.name} has the role(s) {held}; this needs the {needed} role"
    )


def account_for(tokens: TokenRegistry, token: str | None, role: Role | None) -> Account:
    if not token:
        raise unauthorized(
            "this needs an API token: send the header 'Authorization: Bearer <token>'"
        )
    account = tokens.find(token)
    if account is None:
        raise unauthorized("this API does not know that token (revoked, or mistyped?)")
    if role is not None and not account.may(role):
        raise forbidden(account, role)
    return account


def require(role: Role | None) -> Callable[..., Awaitable[Account]]:
    """A dependency giving the caller's account when its token has ``role`` (None: any role)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Account:
        token = credentials.credentials if credentials else None
        account = account_for(registry(request), token, role)
        # For the error handlers: how much of an infrastructure failure this caller is told.
        request.state.account = account
        return account

    dependency.required_role = role  # type: ignore[attr-defined]  # for the query check
    return dependency


async def intake_allowed(
    request: Request, account: Annotated[Account, Depends(require(Role.SUBMIT))]
) -> Account:
    """The submitting account, once its token bucket allows another intake request (counted
    by the token-first middleware already, before the body was read: not twice)."""
    if not getattr(request.state, INTAKE_COUNTED, False):
        intake_within(request.app, account)
    return account


# Set on a request (its scope's state) whose intake request the token-first middleware counted.
INTAKE_COUNTED = "intake_counted"
# Set on a review request whose read the token-first middleware took from the token's allowance.
READ_COUNTED = "read_counted"


def intake_within(app: Any, account: Account) -> None:
    """Raises 429 when ``account``'s intake bucket has no request left; takes one otherwise."""
    limit: ApiSettings = app.state.settings
    _within(
        app.state.intake_limiter,
        account,
        "intake requests",
        limit.intake_per_minute,
        limit.intake_burst,
    )


async def report_allowed(
    request: Request, account: Annotated[Account, Depends(require(Role.READ))]
) -> Account:
    """The reading account, once its token bucket allows another report (each reads up to
    20,000 tickets' records from Temporal's visibility store)."""
    limit = settings(request)
    _within(
        request.app.state.report_limiter,
        account,
        "reports",
        limit.report_per_minute,
        limit.report_burst,
    )
    return account


async def read_allowed(
    request: Request, account: Annotated[Account, Depends(require(Role.READ))]
) -> Account:
    """The reading account, once its token bucket allows another read (a ticket, a page of
    tickets, the review queue: each a query to a worker or a visibility read)."""
    read_within(request.app, account)
    return account


def read_within(app: Any, account: Account) -> None:
    """Raises 429 when ``account``'s read bucket has no request left; takes one otherwise
    (the console's pages take theirs here too)."""
    limit: ApiSettings = app.state.settings
    _within(app.state.read_limiter, account, "reads", limit.read_per_minute, limit.read_burst)


def _within(
    limiter: RateLimiter, account: Account, what: str, per_minute: float, burst: int
) -> None:
    wait = limiter.retry_after(account.name)
    if wait is not None:
        raise HTTPException(
            429,
            f"too many {what} for {account.name}: {per_minute:g} a minute with bursts of "
            f"{burst}; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
