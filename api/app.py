"""The FastAPI application: intake, reading, review, health and the review console.

Its OpenAPI document is at /openapi.json (browsable at /docs with TICKETS_API_DOCS=on). Every
route that touches Temporal goes through the one client factory; every error is JSON with a
sentence (api/errors.py).
"""

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse
from temporalio.common import MetricMeter

from api import errors
from api.accounts import TokenRegistry
from api.body_limit import BodyLimitMiddleware
from api.console import pages, sign_in
from api.page_tokens import PageTokens
from api.query_params import known_query_parameters
from api.rate_limit import RateLimiter
from api.request_metrics import RequestMetrics
from api.routes import health, intake, reading, review
from api.security_headers import SecurityHeadersMiddleware
from api.server_logs import quiet_server_logs
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from api.token_first import TokenFirstMiddleware

DESCRIPTION = """\
Tickets in, reviews out. Authenticate with `Authorization: Bearer <token>`; tokens have the roles
`submit` (intake only), `read` (tickets, lists, the report), `review` (read and decide on
drafts) and `admin` (everything).
Errors are JSON: `{"message": "...", "problems": [...]}`. The review console is at /console.
"""


def create_app(
    settings: ApiSettings,
    tokens: TokenRegistry,
    connection: TemporalConnection | None = None,
    meter: MetricMeter | None = None,
) -> FastAPI:
    """``meter``: where the requests are counted (the process's Prometheus runtime's), or none."""
    app = FastAPI(
        title="Support tickets API",
        version="1.0",
        description=DESCRIPTION,
        docs_url="/docs" if settings.docs else None,
        redoc_url="/redoc" if settings.docs else None,
        # FastAPI's own spans go through this process's exporters (shared/telemetry.py), which
        # drop exception messages and query strings. Its auto-configuration
        # (FASTAPI_OTEL_AUTO_CONFIGURE=true) would add exporters of its own beside them, and its
        # logs record a validation failure's input values (customer text) and exceptions'
        # messages: neither, whatever the environment says.
        telemetry={"auto_configure": False, "logs": False},
    )
    # A body is read only from a caller with a known token and the role its route needs; intake
    # takes its request from the token's allowance first. (Added first: inside the body limit.)
    app.add_middleware(TokenFirstMiddleware)
    # Bodies over the limit are refused with 413 before anything parses them: a declared size at
    # once, before any token is looked at or any allowance taken; a chunked one as it is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    # No caching, no sniffing; the console's content policy; forms from other sites refused.
    app.add_middleware(SecurityHeadersMiddleware)
    if meter is not None:
        # Outermost: it sees every answer, the refusals of the middlewares above included.
        app.add_middleware(RequestMetrics, meter=meter)
    app.state.settings = settings
    app.state.registry = tokens
    app.state.temporal = connection or TemporalConnection()
    app.state.intake_limiter = RateLimiter(settings.intake_per_minute, settings.intake_burst)
    app.state.report_limiter = RateLimiter(settings.report_per_minute, settings.report_burst)
    app.state.read_limiter = RateLimiter(settings.read_per_minute, settings.read_burst)
    app.state.page_tokens = PageTokens()
    errors.install(app)
    quiet_server_logs()  # what uvicorn logs for the app: no traceback twice, no query strings
    for router in (intake.router, reading.router, review.router):
        app.include_router(
            router, dependencies=[Depends(known_query_parameters)], responses=errors.responses(400)
        )
    # Health probes and the console's pages take what they are given (a monitor's cache-busting
    # ?ts=... must not read as the API down).
    app.include_router(health.router)
    app.include_router(sign_in.router)
    app.include_router(pages.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console", status_code=303)

    return app
