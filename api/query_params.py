"""Query strings read strictly: a name the route does not take, or one given twice, is a 400
naming it. FastAPI ignores both, so `GET /tickets?stat=AWAITING_REVIEW` (a typo) answered the
unfiltered list and `?state=A&state=B` kept only B, and a dashboard showed the wrong tickets
without a word."""

from fastapi import HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.accounts import Role
from api.deps import account_for, registry
from api.token_first import bearer_token


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _required_role(dependant: Dependant) -> Role | None:
    """The role the route's own ``require`` dependency asks for (None: any token)."""
    for sub in dependant.dependencies:
        if (role := getattr(sub.call, "required_role", None)) is not None:
            return role
        if (role := _required_role(sub)) is not None:
            return role
    return None


async def known_query_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    given = request.query_params
    unknown = sorted(set(given) - known)
    if unknown or any(len(given.getlist(name)) > 1 for name in known):
        # The caller first (this runs before the route's own checks): a request without a
        # token the API knows got this 400 instead of its 401, one whose token lacks the
        # route's role instead of its 403.
        account_for(registry(request), bearer_token(request.scope), _required_role(route.dependant))
    if unknown:
        takes = ", ".join(sorted(known)) if known else "none"
        raise HTTPException(
            400,
            f"unknown query parameter(s) {', '.join(repr(u[:40]) for u in unknown[:5])}: "
            f"{route.path} takes {takes}",
        )
    for name in sorted(known):
        if (times := len(given.getlist(name))) > 1:
            raise HTTPException(400, f"query parameter {name!r} given {times} times; give it once")
