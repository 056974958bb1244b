"""What a short-lived process (each CLI command) does with its traces as it ends: the spans
still buffered are sent within a bounded wait (none when the collector refuses connections, a
short one once this command's exports have failed), and OpenTelemetry's own complaints reach
the command's output once, not on every retry. A worker and the servers keep every line."""

import logging
import os
import socket
import sys
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import TracerProvider

from shared.http_urls import http_url_problem
from shared.otel_env import exporter_kinds
from shared.telemetry import current_provider


class _FirstProblemOnly(logging.Filter):
    """Lets a command's first tracing problem through, as one line, and no other: with the
    collector down, the exporter's retries and failures were printed into a command's output
    (a results table, `make run`'s waiting lines) for as long as it ran."""

    # A tracing problem was logged in this process (exports failing): ``flush`` waits less.
    seen_in_this_process = False

    def __init__(self) -> None:
        super().__init__()
        self.shown = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            _FirstProblemOnly.seen_in_this_process = True
        if record.levelno < logging.WARNING or self.shown:
            return False
        self.shown = True
        said = " ".join(record.getMessage().split())[:300]
        record.msg = f"{said} (this command shows no further tracing problems)"
        record.args, record.exc_info, record.exc_text = (), None, None
        return True


class _StderrNow(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line comes, not the one it was made with
    (which a test, or a process redirecting its output, may have closed since)."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def quiet_tracing_problems() -> None:
    """For a command-line process: OpenTelemetry's own log lines (export failures, retries)
    reach its stderr once, as "warning: traces: ...", instead of on every retry. A worker and
    the servers (`serve`, `codec-server`) keep every line: their log is where an operator
    looks."""
    otel = logging.getLogger("opentelemetry")
    if any(isinstance(f, _FirstProblemOnly) for h in otel.handlers for f in h.filters):
        return  # once per process
    handler = _StderrNow()
    handler.addFilter(_FirstProblemOnly())
    handler.setFormatter(logging.Formatter("warning: traces: %(message)s"))
    otel.addHandler(handler)
    otel.propagate = False


# How long a command's exit waits for its spans once its exports have already failed (the
# collector down): a try, not the whole wait.
FLUSH_AFTER_A_FAILURE_MILLIS: Final = 300


def flush(timeout_millis: int = 5_000, env: Mapping[str, str] | None = None) -> None:
    """Export what is buffered (a short-lived process calls this before it exits), giving up
    after ``timeout_millis``, or FLUSH_AFTER_A_FAILURE_MILLIS when this command's exports have
    failed already; not at all when the OTLP collector refuses connections (nothing listens
    there): each command waited the whole 5 s at exit for a collector that was down."""
    provider = current_provider()
    if provider is None:
        return
    env = os.environ if env is None else env
    if (refusing := collector_refusing(env)) is not None:
        logging.getLogger("opentelemetry.exporter").warning(
            "the collector at %s: this command's spans were not sent", refusing
        )
        if exporter_kinds(env) == ["otlp"]:
            return
        # Another exporter (``otlp,console``) still has its spans to write: a try, as after a
        # failure, not the whole wait for the collector's.
        timeout_millis = FLUSH_AFTER_A_FAILURE_MILLIS
    flush_within(provider, flush_timeout(timeout_millis))


# How long the exit's check that an OTLP collector listens may take.
COLLECTOR_PROBE_SECONDS: Final = 0.2


def collector_refusing(env: Mapping[str, str]) -> str | None:
    """The host:port of the OTLP endpoint and why it cannot be reached when nothing listens
    there (the connection refused at once) or its name does not resolve (the compose file's
    `jaeger` from a shell on the host: each command waited the whole 5 s at exit), else None:
    also when it answers or is slow (the flush then tries, as before). Never the endpoint's
    path or credentials."""
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    # As the exporters are made: an empty OTEL_TRACES_EXPORTER (the compose file's default) is
    # otlp; it read as none here, and each command in a container waited 5 s for a jaeger down.
    if not url or "otlp" not in exporter_kinds(env) or http_url_problem(url, credentials=True):
        # A refused endpoint has no exporter; and one with a password holding "/" reads as
        # host "user", port "<the password's start>": named here, and looked up in DNS.
        return None
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if not host or _proxied(parts.scheme, host, env):
        # Through a proxy (HTTPS_PROXY, as the exporter's requests reads it) the collector may
        # be reachable where a direct connection is refused or its name does not resolve: the
        # check skipped every command's flush behind a corporate proxy (a review, 2026-12-08).
        return None
    addresses = _resolved_within(host, port, COLLECTOR_PROBE_SECONDS)
    if isinstance(addresses, socket.gaierror):
        return f"{host}:{port} cannot be found (its name does not resolve)"
    if not addresses:
        return None  # slow to resolve: the flush tries, within its own time
    for address in addresses:  # as create_connection does: localhost may be ::1, then 127.0.0.1
        try:
            with socket.create_connection(address, timeout=COLLECTOR_PROBE_SECONDS):
                return None
        except ConnectionRefusedError:
            continue
        except OSError:
            return None
    return f"{host}:{port} refuses connections"


def _proxied(scheme: str, host: str, env: Mapping[str, str]) -> bool:
    """Whether a request to ``host`` goes through a proxy the environment names, as
    ``requests`` (the OTLP exporter's client) decides it: ``<scheme>_proxy`` or ``all_proxy``,
    lower case first, and ``no_proxy`` excepting hosts."""
    proxies: dict[str, str] = {}
    for name, value in env.items():
        lower = name.lower()
        if value and lower.endswith("_proxy") and (name == lower or lower not in env):
            proxies[lower.removesuffix("_proxy")] = value
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(host, proxies)


def _resolved_within(
    host: str, port: int, seconds: float
) -> list[tuple[str, int]] | socket.gaierror | None:
    """The addresses of ``host``, its lookup's error, or None when the lookup takes longer
    than ``seconds`` (the connection's timeout does not cover it: a resolver that does not
    answer held every command's exit for its own timeout). The lookup goes on in a daemon
    thread that the process's exit ends."""
    found: list[list[tuple[str, int]] | socket.gaierror] = []

    def look_up() -> None:
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append([(str(i[4][0]), int(i[4][1])) for i in info])
        except socket.gaierror as err:
            found.append(err)
        except (OSError, UnicodeError):
            pass

    lookup = threading.Thread(target=look_up, name="collector-lookup", daemon=True)
    lookup.start()
    lookup.join(seconds)
    return found[0] if found else None


def flush_timeout(timeout_millis: int) -> int:
    failed = _FirstProblemOnly.seen_in_this_process
    return min(timeout_millis, FLUSH_AFTER_A_FAILURE_MILLIS) if failed else timeout_millis


def flush_within(provider: TracerProvider, timeout_millis: int) -> bool:
    """``provider.force_flush``, returning after ``timeout_millis`` whatever the exporter does
    (True when it finished). The exporter's own retries do not keep to the flush's timeout: with
    the collector down, every CLI command stalled 7 s at exit. The export goes on in a daemon
    thread that the process's exit ends."""
    flushing = threading.Thread(
        target=provider.force_flush, args=(timeout_millis,), name="flush-spans", daemon=True
    )
    flushing.start()
    flushing.join(timeout_millis / 1000)
    return not flushing.is_alive()
