"""``python -m starter codec-server``: the codec server on its own, until Ctrl-C or SIGTERM."""

import argparse
import dataclasses
import sys

from codec_server.http_protocol import RequestHeadDeadline
from codec_server.settings import MAX_CONNECTIONS, CodecServerSettings, parse_origin
from shared.data_converter import data_converter, key_ring_of
from shared.loopback import loopback_host
from shared.redaction import safe_url
from shared.settings import ConfigError
from starter.arguments import listen_problem, port_number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (TICKETS_CODEC_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="port (TICKETS_CODEC_PORT, default 8081)")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a Web UI origin allowed to call it, e.g. http://localhost:8233 (repeatable; adds to "
        "TICKETS_CODEC_ALLOWED_ORIGINS)",
    )


def exposure_warning(host: str, authenticated: bool) -> str | None:
    """The warning for a server that hands out plaintext to whatever reaches it: listening
    beyond this machine with no token required (neither the shared one nor users' access
    tokens). The origin allow-list stops other sites' pages in a browser, not a program, which
    sends any Origin it likes or none."""
    if authenticated or loopback_host(host):
        return None
    return (
        f"codec server: WARNING: listening on {host} with no TICKETS_CODEC_AUTH_TOKEN: any "
        "program that reaches this address gets every payload it sends decrypted. The origin "
        "allow-list only stops web pages of other sites; it is not authentication. Keep the "
        "port reachable only by the Web UI's users (an authenticating proxy, a private "
        "network), or set a token for the CLI and scripts (docs/privacy.md)"
    )


def who_may_call(settings: CodecServerSettings) -> str:
    """What a request needs, for the start-up line (no secret in it)."""
    needs = []
    if settings.auth_token is not None:
        needs.append("the shared bearer token")
    if settings.tokens is not None:
        claim = settings.tokens.permissions_claim
        role = f" granting a role on {settings.namespace} in its {claim} claim" if claim else ""
        needs.append(
            f"a user's access token from {settings.tokens.issuer} for "
            f"{settings.tokens.audience}{role} (keys: {safe_url(settings.tokens.jwks_url)})"
        )
    return "requests need " + " or ".join(needs) if needs else "bearer token not required"


def namespace_warning(settings: CodecServerSettings) -> str | None:
    """The warning for users' tokens accepted without a permission on the namespace: whoever
    the identity provider signs in for the audience decrypts it, whichever namespaces Temporal
    lets them see."""
    if settings.tokens is None or settings.tokens.permissions_claim:
        return None
    return (
        f"codec server: warning: any access token {settings.tokens.issuer} issues for "
        f"{settings.tokens.audience} decrypts namespace {settings.namespace}; set "
        "TICKETS_CODEC_JWT_PERMISSIONS_CLAIM (e.g. permissions) to require a role on it "
        "(docs/privacy.md)"
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: every other CLI command starts without loading the web stack.
    import uvicorn

    from codec_server import audit
    from codec_server.app import build_app

    try:
        settings = CodecServerSettings.from_env()
        converter = data_converter()
        flagged = [parse_origin(o, "--allow-origin") for o in args.allow_origin]
    except ConfigError as err:
        # Exit 1, as for every configuration that cannot be used (README's exit codes).
        print(f"codec server: configuration error: {err}", file=sys.stderr)
        return 1
    origins = [*settings.allowed_origins, *flagged]
    ring = key_ring_of(converter)
    if ring is None:
        print(
            "codec server: no key ring (TICKETS_ENCRYPTION_KEYS, TICKETS_ENCRYPTION_KEY_FILE or "
            "the data directory's encryption-keys.json): there is nothing for it to decrypt",
            file=sys.stderr,
        )
        return 1
    host = args.host or settings.host
    port = args.port or settings.port
    settings = dataclasses.replace(settings, host=host, port=port, allowed_origins=tuple(origins))
    if problem := listen_problem(host, port):
        print(f"codec server: {problem}", file=sys.stderr)
        return 1
    authenticated = settings.auth_token is not None or settings.tokens is not None
    if warning := exposure_warning(host, authenticated):
        print(warning, file=sys.stderr, flush=True)
    if warning := namespace_warning(settings):
        print(warning, file=sys.stderr, flush=True)
    print(
        f"codec server: http://{host}:{port} for namespace {settings.namespace}; "
        f"{ring.describe()}; origins allowed: {', '.join(safe_url(o) for o in origins) or 'none'}"
        f"; {who_may_call(settings)}",
        flush=True,
    )
    audit.to_stdout()
    uvicorn.run(
        build_app(converter, settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # paths only, but nothing here needs a line per payload request
        # The audit line's address is the connection's: a proxy's X-Forwarded-For is logged as
        # what the request says (codec_server/audit.py where_from), never believed.
        proxy_headers=False,
        limit_concurrency=MAX_CONNECTIONS,
        # A connection that sends no request head within 10 s is closed: idle sockets held
        # every one of those slots for as long as they stayed open (http_protocol.py).
        http=RequestHeadDeadline,
    )
    return 0
