"""Liveness and readiness, for a compose healthcheck or a load balancer (no token needed)."""

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import temporal
from api.errors import ApiError, log, responses
from api.models import Health
from api.temporal import TemporalConnection
from shared.operation_errors import ServerUnreachable
from shared.stores.errors import SchemaBehind, StoreUnavailable

router = APIRouter(tags=["health"])


# GET and HEAD: a load balancer that probes with HEAD got 405 and took the API for down.
@router.api_route(
    "/healthz", methods=["GET", "HEAD"], response_model=Health, summary="the process is alive"
)
async def healthz() -> Health:
    return Health(status="alive")


@router.api_route(
    "/readyz",
    methods=["GET", "HEAD"],
    response_model=Health,
    responses=responses(503),
    summary="Temporal (and the payload database, when one is configured) answers: the API can "
    "do its work",
)
async def readyz(connection: Annotated[TemporalConnection, Depends(temporal)]) -> Health:
    # Anyone may ask: the answer says ready or not, and the log says why not (the server's
    # address, its version and the connection's error are the deployment's to know).
    try:
        await connection.ready()
    except ServerUnreachable as err:
        log.warning("not ready: %s", err)
        message = "not ready: the Temporal server does not answer (the log says why)"
        raise ApiError(503, message) from None
    except SchemaBehind as err:
        # It answers: the tables are a worker's to create or bring up to date (a first `up`
        # whose workers have not started yet, or cannot), not the database's fault.
        log.warning("not ready: %s", err)
        message = (
            "not ready: the payload database's tables are not created or not up to date yet; "
            "a worker of this version does that when it starts (the log says more)"
        )
        raise ApiError(503, message) from None
    except StoreUnavailable as err:
        log.warning("not ready: %s", err)
        message = "not ready: the payload database does not answer (the log says why)"
        raise ApiError(503, message) from None
    return Health(status="ready", temporal="answers")
