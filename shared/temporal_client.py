"""The one place that creates Temporal clients: the worker, the starter and the tests all call it.

Connection settings come from Temporal's own environment configuration (``temporalio.envconfig``):
TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and TEMPORAL_PROFILE, or a
profile in TEMPORAL_CONFIG_FILE / ~/.config/temporalio/temporal.toml. With nothing set it connects
to the embedded dev server on 127.0.0.1:7233. Tracing (``shared.telemetry``: the SDK's
OpenTelemetry plugin, exported when the standard OTEL_ variables are set) is installed on every
client here; a process that serves metrics passes its ``Runtime`` (``shared.metrics``).
"""

import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, NoReturn

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.contrib.opentelemetry import OpenTelemetryPlugin
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from shared import telemetry, telemetry_exit
from shared.data_converter import data_converter
from shared.loopback import loopback

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_NAMESPACE = "default"
MAX_PORT = 65_535


@dataclass(frozen=True)
class ConnectionSettings:
    address: str
    namespace: str
    tls: bool
    has_api_key: bool
    # The API key and client certificates: kept out of the settings' repr.
    connect_kwargs: Mapping[str, Any] = field(repr=False)

    def describe(self) -> str:
        """Safe to print: never includes the API key or certificates."""
        extras = [x for x, on in (("TLS", self.tls), ("API key", self.has_api_key)) if on]
        suffix = f" ({', '.join(extras)})" if extras else ""
        return f"{self.address}, namespace {self.namespace}{suffix}"


class ClientConfigError(Exception):
    """The client cannot be configured: a bad TEMPORAL_CONFIG_FILE or profile, a certificate
    file that is not there, a data-converter setting that does not parse. Names the problem."""


# The lines a TOML parser quotes from the file around an error ("3 | api_key = abc...", and
# the "  |      ^^^" under it): the profile file holds API keys and TLS keys, so they go.
_QUOTED_LINE = re.compile(r"^\s*\d*\s*\|")


# A value the parser quotes inside its message ('invalid type: string "tka_..."').
_QUOTED_VALUE = re.compile(r'"[^"\n]*"|`[^`\n]*`')


def without_quoted_lines(message: str) -> str:
    """A configuration error's message without the file lines and values its parser quoted:
    where it is (line and column) and what is wrong stay, the file's text (a key, perhaps)
    does not."""
    kept = (line for line in message.splitlines() if not _QUOTED_LINE.match(line))
    return _QUOTED_VALUE.sub('"…"', "\n".join(kept))


def address_problem(address: str) -> str | None:
    """What is wrong with a ``host:port`` address, or None (also for an address with no port,
    which the SDK reports itself): a URL (the SDK connects to ``http://host:port`` as given, in
    clear text whatever TEMPORAL_TLS says, an API key with it, while the worker said "TLS"; a
    review, 2026-12-08); a port out of range (the SDK's own refusal of port 70000 read
    "invalid target URL")."""
    if "://" in address:
        return (
            "is a URL: give host:port (no scheme; https:// is taken with TLS on); TLS is "
            "TEMPORAL_TLS's to say, and with http:// the connection went in clear text whatever "
            "it said"
        )
    if address.endswith("]") or ":" not in address:
        return None
    port = address.rpartition(":")[2]
    if not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= MAX_PORT:
        return f"names no port: {port!r} is not from 1 to {MAX_PORT}"
    return None


def client_certificate_problem(tls: object) -> str | None:
    """What is wrong with mTLS settings the SDK would refuse only as the client connects (a
    worker that passed --check-config then died with a traceback), or None: a certificate
    without its key or a key without its certificate, or the two swapped (reported as the
    server not reachable). Names the settings, never their contents."""
    if not isinstance(tls, TLSConfig):
        return None
    cert, key = tls.client_cert, tls.client_private_key
    names = (
        "TEMPORAL_TLS_CLIENT_CERT_PATH (or _DATA) and TEMPORAL_TLS_CLIENT_KEY_PATH (or _DATA), "
        "or a profile's"
    )
    if bool(cert) != bool(key):
        given = (
            "a client certificate without its key"
            if cert
            else "a client key without its certificate"
        )
        return f"{given}: mTLS needs both, {names}"
    if cert and key and b"PRIVATE KEY" in cert and b"PRIVATE KEY" not in key:
        return f"the client certificate and key are swapped: {names}"
    return None


# The files the connection settings name, read by the SDK whole and on the caller's thread: a
# profile file or a PEM chain is kilobytes. /dev/zero ran the worker out of memory and a FIFO
# held --check-config (and the worker's event loop) for ever.
CONNECTION_FILES: Final = (
    "TEMPORAL_CONFIG_FILE",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
)
MAX_CONNECTION_FILE_BYTES: Final = 1 << 20
# TEMPORAL_TLS as people write it; the SDK took "off", "no" and "disabled" for TLS on, and the
# worker then failed against a plaintext server with an error that did not name the setting.
_TLS_WORDS: Final = {
    **dict.fromkeys(("1", "true", "yes", "on", "enabled"), "true"),
    **dict.fromkeys(("0", "false", "no", "off", "disabled"), "false"),
}


def _connection_file_problem(name: str, value: str) -> str | None:
    """Why the file a connection setting names cannot be read as one, or None (a missing or
    unreadable one the SDK names itself)."""
    try:
        found = os.stat(value)
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return f"{name} names {value}, which is not a regular file (a FIFO, a device?)"
    if found.st_size > MAX_CONNECTION_FILE_BYTES:
        return (
            f"{name} names {value}, of {found.st_size:,} bytes; a certificate or profile file "
            f"is kilobytes (at most {MAX_CONNECTION_FILE_BYTES:,} bytes)"
        )
    return None


def connection_settings(env: Mapping[str, str] | None = None) -> ConnectionSettings:
    source = os.environ if env is None else env
    # Empty is unset, as for every setting of the project (docs/deploy.md: a compose file
    # passes an optional setting it was not given as empty): the SDK read an empty TEMPORAL_TLS
    # or TEMPORAL_API_KEY as TLS on, and an empty certificate path as the current directory.
    # (Not a gRPC header's: an empty one removes the header a profile sets.)
    given = {
        k: v
        for k, v in source.items()
        if v.strip() or not k.startswith("TEMPORAL_") or k.startswith("TEMPORAL_GRPC_META_")
    }
    if "TEMPORAL_TLS" in given:
        word = _TLS_WORDS.get(given["TEMPORAL_TLS"].strip().lower())
        if word is None:
            raise ClientConfigError(
                f"TEMPORAL_TLS is {given['TEMPORAL_TLS'][:40]!r}: give true or false (also "
                "1/0, yes/no, on/off)"
            )
        given["TEMPORAL_TLS"] = word
    for name in CONNECTION_FILES:
        if (named := given.get(name)) and (problem := _connection_file_problem(name, named)):
            raise ClientConfigError(
                f"the Temporal connection configuration cannot be used: {problem}"
            )
    try:
        loaded = ClientConfig.load_client_connect_config(override_env_vars=given)
    except (RuntimeError, OSError, ValueError) as err:
        # The SDK reads the profile file and TLS files here: every failure is configuration.
        if isinstance(err, OSError):
            what = f"{err.filename}: {err.strerror}"
        else:
            named = given.get("TEMPORAL_CONFIG_FILE")
            what = f"{named + ': ' if named else ''}{without_quoted_lines(str(err))}"
        raise ClientConfigError(
            f"the Temporal connection configuration cannot be used: {' '.join(what.split())}"
        ) from None
    kwargs: dict[str, Any] = dict(loaded)
    if problem := client_certificate_problem(kwargs.get("tls")):
        raise ClientConfigError(f"the Temporal connection configuration cannot be used: {problem}")
    address = kwargs.pop("target_host", None) or DEFAULT_ADDRESS
    if address.lower().startswith("https://") and kwargs.get("tls"):
        # What the SDK took over TLS (with a deprecation warning): host:port, as it connects.
        address = address[len("https://") :].rstrip("/")
    if problem := address_problem(address):
        raise ClientConfigError(f"the Temporal address {address!r} {problem}")
    namespace = kwargs.pop("namespace", None) or DEFAULT_NAMESPACE
    metadata = kwargs.get("rpc_metadata") or {}
    bearer = any(k.lower() == "authorization" for k in metadata)
    if bearer and not kwargs.get("tls") and not loopback(address):
        # The same key given as a gRPC header (TEMPORAL_GRPC_META_AUTHORIZATION, a profile's).
        raise ClientConfigError(
            f"an authorization header (TEMPORAL_GRPC_META_AUTHORIZATION, or the profile's) is "
            f"set with TLS off for {address}: it would cross the network in clear text; turn "
            "TLS on (TEMPORAL_TLS=true)"
        )
    if kwargs.get("api_key") and not kwargs.get("tls") and not loopback(address):
        # The SDK sends the key as a bearer token on every call: over plaintext, to anyone on
        # the path (a review, 2026-12-07: nothing was said).
        raise ClientConfigError(
            f"an API key (TEMPORAL_API_KEY, or the profile's) is set with TLS off for {address}: "
            "the key would cross the network in clear text; turn TLS on (TEMPORAL_TLS=true, "
            "the default with an API key)"
        )
    return ConnectionSettings(
        address=address,
        namespace=namespace,
        tls=bool(kwargs.get("tls")),
        has_api_key=bool(kwargs.get("api_key")),
        connect_kwargs=kwargs,
    )


async def connect(
    settings: ConnectionSettings | None = None,
    *,
    lazy: bool = False,
    converter: DataConverter | None = None,
    runtime: Runtime | None = None,
    **overrides: Any,
) -> Client:
    """A client from ``settings`` (default: the environment) with the project's data converter
    (pydantic JSON, large payloads kept in the payload store: ``shared.data_converter``) and
    tracing (``shared.telemetry``); workers built on it inherit both. ``runtime``: the process's
    one Temporal runtime when it serves metrics (created before any client)."""
    settings = settings or connection_settings()
    kwargs = {**settings.connect_kwargs, **overrides}
    if converter is None:
        try:
            converter = data_converter()
        except ValueError as err:  # a TICKETS_* converter setting that does not parse
            raise ClientConfigError(f"the data converter cannot be configured: {err}") from None
    client = await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=converter or data_converter(),
        plugins=telemetry.client_plugins(),
        runtime=runtime,
        lazy=lazy,
        **kwargs,
    )
    if not lazy:
        await _check_namespace(client, settings)
    return client


class NamespaceMissing(ClientConfigError):
    """The server answers but has no namespace of the configured name: every call would fail
    as "not found" (the API said 404 to a new ticket, and "no ticket" of every id) while a
    health check that only asked the server said all was well."""


# The namespace check must not hold up a process longer than this when the server is slow.
NAMESPACE_CHECK_TIMEOUT = timedelta(seconds=3)  # within the API's readiness probe's


async def _check_namespace(client: Client, settings: ConnectionSettings) -> None:
    """Raises NamespaceMissing when the server has no namespace ``client.namespace``. Any
    other failure of the question (a key not allowed to ask it, a slow moment) is left to the
    calls themselves to report."""
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=client.namespace),
            timeout=NAMESPACE_CHECK_TIMEOUT,
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise NamespaceMissing(
                f"the Temporal server at {settings.address} has no namespace "
                f"{client.namespace!r}: set TEMPORAL_NAMESPACE to one it has, or create it "
                "(docs/deploy.md)"
            ) from None


def untraced(client: Client) -> Client:
    """The same connection, namespace, data converter and interceptors, without the tracing
    plugin: for the rate-control plumbing. Traced, a provider queue's controller made one trace
    of every run it ever had (each continue-as-new a child of the run before, for as long as
    the queue exists: no trace viewer opens that), and every worker's rate report a trace of
    its own, more than the tickets themselves."""
    config = client.config()
    config["plugins"] = [p for p in config["plugins"] if not isinstance(p, OpenTelemetryPlugin)]
    return Client(**config)


def exit_process(code: int) -> NoReturn:
    """End a process that used a Temporal client, skipping interpreter finalization.

    The SDK's Rust bridge keeps runtime threads that can touch the GIL while CPython finalizes,
    which crashes short-lived processes at exit (SIGABRT/SIGSEGV after the work is done; see
    temporalio/sdk-python#300). Everything is flushed first, so nothing printed is lost.
    """
    telemetry_exit.flush()  # spans still in the export queue
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# What the SDK's transport says, in its nested Rust error types, and the few words for it.
_CAUSES: Final = (
    ("refused", "connection refused"),
    ("dns error", "its host name could not be resolved (DNS): check the address"),
    ("invalid uri", "not an address: give host:port"),
    ("certificate", "its TLS certificate was not accepted (TEMPORAL_TLS_*)"),
    ("timed out", "the connection timed out"),
)


def unreachable_cause(err: BaseException) -> str:
    """Why a connection failed, in a few words: "connection refused", a host name that does not
    resolve, ...; otherwise the SDK's message on one line and cut short (it quotes the Rust
    transport's nested error types: a DNS failure's cut left only 'error: "', a review found)."""
    text = str(err)
    lowered = text.lower()
    for found, said in _CAUSES:
        if found in lowered:
            return said
    return re.sub(r"\s+", " ", text)[:160]
