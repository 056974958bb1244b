"""Serving the API with uvicorn: one process (behind any proxy), on the configured host and port."""

import errno
import socket

import uvicorn
from temporalio.common import MetricMeter

from api.accounts import TokenRegistry
from api.app import create_app
from api.settings import ApiSettings


def build_server(
    settings: ApiSettings, tokens: TokenRegistry, meter: MetricMeter | None = None
) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings, tokens, meter=meter),
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


class CannotListen(Exception):
    """The API's address cannot be bound (in use, not this machine's, a privileged port)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything says the API is on it (uvicorn bound it after
    the start-up line, then failed with its own exit code 3 and a log line)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        hint = ""
        if err.errno == errno.EADDRINUSE:
            hint = ": another process listens there (give --port or TICKETS_API_PORT)"
        elif err.errno == errno.EADDRNOTAVAIL:
            hint = ": not an address of this machine (give --host or TICKETS_API_HOST)"
        raise CannotListen(f"cannot listen on {host}:{port}: {err.strerror or err}{hint}") from None
    except socket.gaierror as err:
        sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock
