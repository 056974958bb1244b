"""Liveness and readiness, for a compose healthcheck or a load balancer (no token needed)."""

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import temporal
from api.errors import responses
from api.models import Health
from api.temporal import TemporalConnection

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="the process is alive")
async def healthz() -> Health:
    return Health(status="alive")


@router.get(
    "/readyz",
    response_model=Health,
    responses=responses(503),
    summary="Temporal answers: the API can do its work",
)
async def readyz(connection: Annotated[TemporalConnection, Depends(temporal)]) -> Health:
    return Health(status="ready", temporal=await connection.ready())
