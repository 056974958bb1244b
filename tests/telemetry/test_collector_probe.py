"""A command's exit does not wait for a collector that nothing listens for: it checks the OTLP
endpoint's port first (shared/telemetry.py collector_refusing), and skips the flush with one
line when the connection is refused or the endpoint's name does not resolve. Each CLI command
waited 5 s at exit with the collector down. Real sockets on 127.0.0.1: one listening, one closed."""

import logging
import socket
import threading
from collections.abc import Iterator

import pytest

from shared import telemetry_exit as telemetry
from tests.support.processes import free_port


@pytest.fixture
def listening() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def otlp(port: int, exporters: str = "otlp") -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://user:secret@127.0.0.1:{port}/otlp?token=x",
        "OTEL_TRACES_EXPORTER": exporters,
    }


def test_a_refused_connection_or_a_name_that_does_not_resolve_counts_as_no_collector(
    listening: int,
) -> None:
    closed = free_port()

    said = telemetry.collector_refusing(otlp(closed))
    assert said == f"127.0.0.1:{closed} refuses connections"  # no secret
    assert telemetry.collector_refusing(otlp(listening)) is None
    assert telemetry.collector_refusing(otlp(closed, "console")) is None  # no OTLP export
    assert telemetry.collector_refusing({}) is None
    # The compose file's jaeger from a shell on the host: each command waited 5 s at exit.
    unresolvable = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.invalid:4318"}
    assert telemetry.collector_refusing(unresolvable) == (
        "collector.invalid:4318 cannot be found (its name does not resolve)"
    )


def test_an_endpoint_reached_through_a_proxy_is_not_judged_by_a_direct_connection() -> None:
    # The exporter's requests goes through HTTP(S)_PROXY: behind a corporate proxy the name may
    # not resolve here, or a direct connection be refused, and every command's flush was
    # skipped, its spans lost, the collector blamed.
    closed = free_port()
    unresolvable = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.invalid:4318"}
    for proxy in ({"HTTP_PROXY": "http://proxy:3128"}, {"all_proxy": "http://proxy:3128"}):
        assert telemetry.collector_refusing(unresolvable | proxy) is None
        assert telemetry.collector_refusing(otlp(closed) | proxy) is None
    # A proxy for the other scheme, or one the host is excepted from, is not taken.
    https_only = {"HTTPS_PROXY": "http://proxy:3128"}
    assert telemetry.collector_refusing(unresolvable | https_only) is not None
    excepted = {"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "127.0.0.1,.internal"}
    assert telemetry.collector_refusing(otlp(closed) | excepted) == (
        f"127.0.0.1:{closed} refuses connections"
    )
    # The lower-case name wins where both are set, as requests reads them.
    both = {"HTTP_PROXY": "http://proxy:3128", "http_proxy": ""}
    assert telemetry.collector_refusing(unresolvable | both) is not None


def test_the_exit_flush_is_skipped_with_one_line_when_nothing_listens(
    listening: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As in a fresh process (a test that ran the CLI here may have quieted these loggers).
    otel = logging.getLogger("opentelemetry")
    monkeypatch.setattr(otel, "handlers", [])
    monkeypatch.setattr(otel, "propagate", True)
    flushed: list[int] = []
    monkeypatch.setattr(telemetry, "current_provider", lambda: object())
    monkeypatch.setattr(telemetry, "flush_within", lambda _p, ms: flushed.append(ms) or True)
    closed = free_port()

    with caplog.at_level("WARNING", logger="opentelemetry.exporter"):
        telemetry.flush(env=otlp(closed))
        telemetry.flush(env=otlp(listening))

    assert len(flushed) == 1  # only where a collector listens
    said = [r.getMessage() for r in caplog.records if r.name == "opentelemetry.exporter"]
    assert said == [
        f"the collector at 127.0.0.1:{closed} refuses connections: this command's spans were "
        "not sent"
    ]


def test_an_endpoint_refused_for_its_form_is_not_probed_nor_named() -> None:
    # A password holding "/" reads as host "otel", port "2024" (the password's start): the
    # endpoint was refused (no exporter), yet the exit named "otel:2024" and looked it up.
    looked_up: list[str] = []
    refused = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel:2024/Spring!@collector/"}
    real = socket.getaddrinfo

    def recording(host: str, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", recording)
        assert telemetry.collector_refusing(refused) is None
    assert looked_up == []


def test_a_name_lookup_that_does_not_answer_holds_the_exit_no_longer_than_the_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The connection's timeout does not cover the lookup: a resolver that did not answer held
    # every command's exit for its own timeout (seconds) before the flush.
    answer = threading.Event()

    def silent(*args: object, **kwargs: object) -> object:
        answer.wait()  # never answers by itself: only the probe giving up ends its wait
        raise socket.gaierror("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", silent)
    said: list[str | None] = []
    probe = threading.Thread(
        target=lambda: said.append(
            telemetry.collector_refusing({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c.example:4318"})
        )
    )
    probe.start()
    try:
        probe.join(30)  # a bound on a hang, not a speed target
        gave_up = not probe.is_alive() and not answer.is_set()
    finally:
        answer.set()
        probe.join(10)
    assert gave_up, "the probe waited for the lookup to answer"
    assert said == [None]  # slow, not refusing: the flush tries within its own time


def test_a_name_with_several_addresses_counts_as_refusing_only_when_every_one_refuses(
    listening: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # localhost is often ::1 first; a collector on 127.0.0.1 alone was taken for down.
    closed = free_port()
    both = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", closed)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", listening)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: both)
    assert telemetry.collector_refusing(otlp(closed)) is None
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: both[:1])
    assert telemetry.collector_refusing(otlp(closed)) == f"127.0.0.1:{closed} refuses connections"


def test_an_empty_exporter_list_is_otlp_and_another_exporter_still_gets_a_short_flush(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A review (2026-12-07): the compose file sets OTEL_TRACES_EXPORTER to "" (the SDK's otlp),
    # which this check read as no OTLP export, so every command in a container waited the whole
    # flush for a jaeger that was down; and with otlp,console the flush was skipped, the console
    # spans lost with the collector's.
    flushed: list[int] = []
    monkeypatch.setattr(telemetry, "current_provider", lambda: object())
    monkeypatch.setattr(telemetry, "flush_within", lambda _p, ms: flushed.append(ms) or True)
    closed = free_port()

    assert telemetry.collector_refusing(otlp(closed, "")) is not None
    telemetry.flush(5_000, env=otlp(closed, ""))
    assert flushed == []
    telemetry.flush(5_000, env=otlp(closed, "otlp,console"))
    assert flushed == [telemetry.FLUSH_AFTER_A_FAILURE_MILLIS]
