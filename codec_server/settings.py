"""The codec server's settings, from the environment (and command-line flags over them).

TICKETS_CODEC_HOST             address to bind (default 127.0.0.1: this machine only)
TICKETS_CODEC_PORT             port (default 8081)
TICKETS_CODEC_ALLOWED_ORIGINS  comma-separated origins of Web UIs whose browsers may call it,
                               e.g. http://localhost:8233 (default: none; requests without an
                               Origin header, such as the temporal CLI's, are always allowed)
TICKETS_CODEC_AUTH_TOKEN       when set, every encode/decode request must carry
                               ``Authorization: Bearer <token>``: a shared secret for the CLI
                               and scripts (a Web UI passes its users' own tokens instead)
TICKETS_CODEC_JWKS_URL         the identity provider's key set (JWKS, https): every encode/decode
                               request must carry a user's access token (the Web UI passes it
                               with TEMPORAL_CODEC_PASS_ACCESS_TOKEN) signed by one of its keys
TICKETS_CODEC_JWT_ISSUER       with it: the issuer (``iss``) those tokens must name
TICKETS_CODEC_JWT_AUDIENCE     with it: the audience (``aud``) they must be for
TICKETS_CODEC_JWT_ALGORITHMS   with it: the signing algorithms accepted (default RS256,ES256;
                               asymmetric ones only)
TICKETS_CODEC_JWT_PERMISSIONS_CLAIM  with it: the claim listing the user's Temporal permissions
                               ("<namespace>:<role>", as Temporal's JWT claim mapper reads them,
                               e.g. ``permissions``): a token must grant a role on the namespace
                               served (else 403). Unset, any valid token decrypts.
TEMPORAL_NAMESPACE             the one namespace it serves, resolved as every client does (or the
                               TEMPORAL_PROFILE's in TEMPORAL_CONFIG_FILE; default ``default``)
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from shared.loopback import loopback_host
from shared.settings import ConfigError
from shared.temporal_client import DEFAULT_NAMESPACE, ClientConfigError, connection_settings

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8081
# The shared bearer token's shortest length: it is the only thing between a caller and plaintext.
MIN_AUTH_TOKEN_CHARS: Final = 32
# A decode request carries the payloads of one page of history; Temporal caps a payload at 2 MB.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
# And the payloads of one page are a few per event, a few hundred events: more than this in one
# request is refused (413) before any is decrypted (16 MiB holds millions of empty ones).
MAX_PAYLOADS: Final = 2_000
# Requests whose payloads are parsed, transformed and answered at once (in worker threads); up to
# MAX_WAITING_REQUESTS more wait their turn, and any beyond those are answered 503 at once.
MAX_CONCURRENT_REQUESTS: Final = 4
MAX_WAITING_REQUESTS: Final = 32
# A payload is its data and at most this many metadata entries and external-storage references
# (the SDK writes two or three and one): a payload with a million of either is as costly as a
# million payloads.
MAX_METADATA_ENTRIES: Final = 64
MAX_EXTERNAL_REFERENCES: Final = 16
# What those limits allow a body to hold, counted in its bytes before it is parsed (json.loads
# makes every value a Python object before any limit can be checked: 16 MiB of empty objects
# took 400 MiB). Base64, which carries every payload's data and metadata value, has neither
# brackets, braces nor commas, so these count containers and values from above: per payload its
# object, metadata, both spellings of its reference list and each reference; and per payload a
# separator for each metadata entry, reference field and field of its own, with room to spare.
MAX_JSON_CONTAINERS: Final = 2 + MAX_PAYLOADS * (4 + MAX_EXTERNAL_REFERENCES)
MAX_JSON_SEPARATORS: Final = MAX_PAYLOADS * (MAX_METADATA_ENTRIES + 4 * MAX_EXTERNAL_REFERENCES + 8)
# A request's body must arrive within this long once its turn came (a caller that sends it a
# byte at a time would hold a turn for ever).
BODY_READ_SECONDS: Final = 30.0
# Connections the HTTP server takes at once (uvicorn answers 503 beyond them), so bodies and
# sockets waiting for a turn are bounded too: the turns and the waiting, and a few for /health.
MAX_CONNECTIONS: Final = MAX_CONCURRENT_REQUESTS + MAX_WAITING_REQUESTS + 8
# The signing algorithms a user's access token may use (TICKETS_CODEC_JWT_ALGORITHMS): asymmetric
# ones only, since with a shared-secret one (HS256) anyone holding the public key set could sign.
DEFAULT_ALGORITHMS: Final = ("RS256", "ES256")
ALLOWED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True)
class TokenSettings:
    jwks_url: str
    issuer: str
    audience: str
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    # The claim listing the user's Temporal permissions ("<namespace>:<role>"), when required.
    permissions_claim: str | None = None


DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def normal_origin(text: str) -> str | None:
    """An origin as browsers send it (lower-case scheme and host, no default port, no trailing
    slash), or None when ``text`` is not one."""
    try:
        # urlsplit itself refuses a bracket that does not close (``http://[::1``): a request's
        # Origin header like that was a 500 with no audit line, and the setting a traceback.
        parts = urlsplit(text.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path or parts.query:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return (
        f"{scheme}://{host}"
        if port in (None, DEFAULT_PORTS[scheme])
        else f"{scheme}://{host}:{port}"
    )


def parse_origin(text: str, source: str = "TICKETS_CODEC_ALLOWED_ORIGINS") -> str:
    """``source``: where the text came from, for the error (the variable, or a flag)."""
    origin = normal_origin(text)
    if origin is None:
        raise ConfigError(
            f"{source}: {text.strip()!r} is not an origin "
            "(scheme://host[:port], e.g. http://localhost:8233)"
        )
    return origin


@dataclass(frozen=True)
class CodecServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allowed_origins: Sequence[str] = ()
    auth_token: str | None = field(default=None, repr=False)
    namespace: str = DEFAULT_NAMESPACE
    # Users' access tokens checked against the identity provider's keys (codec_server/tokens.py).
    tokens: TokenSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "CodecServerSettings":
        env = os.environ if env is None else env
        raw_port = (env.get("TICKETS_CODEC_PORT") or "").strip()
        if raw_port and not (raw_port.isascii() and raw_port.isdigit()):
            raise ConfigError(f"TICKETS_CODEC_PORT must be a port number, got {raw_port!r}")
        port = int(raw_port) if raw_port else DEFAULT_PORT
        if not 1 <= port <= 65535:
            # 70000 crashed binding it (OverflowError, a traceback); 0 took a random port and
            # printed ":0" for the Web UI's codec endpoint.
            raise ConfigError(f"TICKETS_CODEC_PORT must be from 1 to 65535, got {raw_port}")
        origins = [
            parse_origin(o)
            for o in (env.get("TICKETS_CODEC_ALLOWED_ORIGINS") or "").split(",")
            if o.strip()
        ]
        auth_token = (env.get("TICKETS_CODEC_AUTH_TOKEN") or "").strip() or None
        if auth_token is not None and len(auth_token) < MIN_AUTH_TOKEN_CHARS:
            # It hands out every payload's plaintext, and nothing slows a guesser down: a
            # three-letter token fell to 29 tries in a tenth of a second.
            raise ConfigError(
                f"TICKETS_CODEC_AUTH_TOKEN is {len(auth_token)} characters; it needs at least "
                f"{MIN_AUTH_TOKEN_CHARS} (make one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        if auth_token is not None and not auth_token.isascii():
            # An HTTP header carries it as bytes the server reads as Latin-1: a token with "é"
            # never matched, and every request was refused with 401 and no reason.
            raise ConfigError(
                "TICKETS_CODEC_AUTH_TOKEN has a character outside ASCII, which an HTTP header "
                "cannot carry as typed (make one with: python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        return cls(
            host=(env.get("TICKETS_CODEC_HOST") or "").strip() or DEFAULT_HOST,
            port=port,
            allowed_origins=tuple(origins),
            auth_token=auth_token,
            # As every client resolves it (TEMPORAL_NAMESPACE, or the profile's), so the codec
            # server serves the namespace the workers and the UI use.
            namespace=_namespace(env),
            tokens=token_settings(env),
        )


def token_settings(env: Mapping[str, str]) -> TokenSettings | None:
    """The access-token check the variables ask for, or None when TICKETS_CODEC_JWKS_URL is
    unset. Issuer and audience are required with it: without them a token the same provider
    issued for any other application would do. Both are compared exactly (a trailing slash
    counts: copy the issuer from the provider's discovery document)."""
    url = (env.get("TICKETS_CODEC_JWKS_URL") or "").strip()
    if not url:
        for name in (
            "TICKETS_CODEC_JWT_ISSUER",
            "TICKETS_CODEC_JWT_AUDIENCE",
            "TICKETS_CODEC_JWT_PERMISSIONS_CLAIM",
        ):
            if (env.get(name) or "").strip():
                raise ConfigError(f"{name} is set but TICKETS_CODEC_JWKS_URL is not")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number raises here)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError("TICKETS_CODEC_JWKS_URL must be an https:// URL of a key set (JWKS)")
    if parts.scheme == "http" and not loopback_host(parts.hostname):
        raise ConfigError(
            "TICKETS_CODEC_JWKS_URL must use https:// (plain http only to this machine): keys "
            "fetched over plain http could be anyone's"
        )
    values = {}
    for name in ("TICKETS_CODEC_JWT_ISSUER", "TICKETS_CODEC_JWT_AUDIENCE"):
        values[name] = (env.get(name) or "").strip()
        if not values[name]:
            raise ConfigError(
                f"{name} is required with TICKETS_CODEC_JWKS_URL: without it a token the "
                "provider issued for any other application would be accepted"
            )
    raw = (env.get("TICKETS_CODEC_JWT_ALGORITHMS") or "").strip()
    algorithms = tuple(a.strip() for a in raw.split(",") if a.strip()) or DEFAULT_ALGORITHMS
    refused = [a for a in algorithms if a not in ALLOWED_ALGORITHMS]
    if refused:
        raise ConfigError(
            f"TICKETS_CODEC_JWT_ALGORITHMS: {', '.join(refused)[:100]} not accepted (asymmetric "
            f"algorithms only: {', '.join(sorted(ALLOWED_ALGORITHMS))})"
        )
    claim = (env.get("TICKETS_CODEC_JWT_PERMISSIONS_CLAIM") or "").strip() or None
    return TokenSettings(
        jwks_url=url,
        issuer=values["TICKETS_CODEC_JWT_ISSUER"],
        audience=values["TICKETS_CODEC_JWT_AUDIENCE"],
        algorithms=algorithms,
        permissions_claim=claim,
    )


def _namespace(env: Mapping[str, str]) -> str:
    try:
        return connection_settings(dict(env)).namespace  # the SDK takes a dict, not os.environ
    except ClientConfigError as err:
        raise ConfigError(str(err)) from None
