"""Serving the API with uvicorn: one process (behind any proxy), on the configured host and port."""

import uvicorn

from api.accounts import TokenRegistry
from api.app import create_app
from api.settings import ApiSettings


def build_server(settings: ApiSettings, tokens: TokenRegistry) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings, tokens),
        host=settings.host,
        port=settings.port,
        # One process: the intake rate limit lives in it (docs/api.md). Behind a proxy on the
        # same machine, X-Forwarded-* from 127.0.0.1 are honoured (uvicorn's default).
        workers=1,
        proxy_headers=True,
        log_level="info",
        access_log=True,
        server_header=False,
    )
    return uvicorn.Server(config)
