"""Who can call the codec server, which hands out plaintext to any caller it accepts: the origin
allow-list only stops web pages of other sites (a program sends any Origin, or none), so

- the real process says so at start when it listens beyond this machine with no token;
- in docker-compose.yml it is on a network of its own with only what it needs (PostgreSQL, its
  payload store): no other container reaches it, the browser does through the published port.
"""

import asyncio
import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from codec_server.http_protocol import HEAD_SECONDS
from codec_server.settings import MAX_CONNECTIONS
from starter.spawn import spawn_logged, stop_process
from tests.deploy.compose_file import interpolated
from tests.support.keys import key_ring_json
from tests.support.processes import free_port
from tests.support.temporal import wait_until

READY_TIMEOUT = 30.0  # seconds: importing the web stack and the SDK


@dataclass
class CodecServer:
    port: int
    process: "subprocess.Popen[bytes]"
    log: Path


@contextlib.asynccontextmanager
async def codec_server(
    tmp_path: Path, host: str = "127.0.0.1", token: str = "", more: dict[str, str] | None = None
) -> AsyncIterator[CodecServer]:
    """``python -m starter codec-server --host HOST`` (a key ring, the token if given), once it
    answers /health; stopped at the end."""
    port, log = free_port(), tmp_path / "codec-server.log"
    env = {
        "PATH": "/usr/bin:/bin",
        "TICKETS_DATA_DIR": str(tmp_path / "data"),
        "TICKETS_ENCRYPTION_KEYS": key_ring_json("k1"),
        "TICKETS_CODEC_AUTH_TOKEN": token,
        "PYTHONUNBUFFERED": "1",
        **(more or {}),
    }
    command = [sys.executable, "-m", "starter", "codec-server", "--host", host, "--port", str(port)]
    process = await asyncio.to_thread(spawn_logged, command, log, env)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                assert process.poll() is None, log.read_text()
                assert loop.time() < deadline, f"no answer within {READY_TIMEOUT}s"
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        yield CodecServer(port, process, log)
    finally:
        await stop_process(process, 10)


async def start_output(
    tmp_path: Path, host: str, token: str, more: dict[str, str] | None = None
) -> str:
    """What ``python -m starter codec-server --host HOST`` prints up to answering /health."""
    async with codec_server(tmp_path, host, token, more) as server:
        pass
    return server.log.read_text()


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [
        ("0.0.0.0", "", True),
        ("127.0.0.1", "", False),
        ("0.0.0.0", "s3cret-codec-token-" + "x" * 20, False),
    ],
)
async def test_listening_beyond_this_machine_without_a_token_is_warned_about_at_start(
    tmp_path: Path, host: str, token: str, warned: bool
) -> None:
    output = await start_output(tmp_path, host, token)

    assert "codec server: http://" in output  # it started
    warning = f"WARNING: listening on {host} with no TICKETS_CODEC_AUTH_TOKEN"
    assert (warning in output) is warned, output
    if warned:
        assert "origin allow-list only stops web pages" in output
        assert "it is not authentication" in output
    if token:
        assert token not in output


async def test_a_server_that_checks_users_access_tokens_says_so_and_is_not_warned_about(
    tmp_path: Path,
) -> None:
    identity = {
        "TICKETS_CODEC_JWKS_URL": "https://id.example.com/.well-known/jwks.json",
        "TICKETS_CODEC_JWT_ISSUER": "https://id.example.com/",
        "TICKETS_CODEC_JWT_AUDIENCE": "temporal-ui",
    }

    output = await start_output(tmp_path, "0.0.0.0", "", identity)

    assert "WARNING" not in output, output
    assert (
        "requests need a user's access token from https://id.example.com/ for temporal-ui "
        "(keys: https://id.example.com/.well-known/jwks.json)"
    ) in output


def _networks(service: dict[str, Any]) -> set[str]:
    return set(service.get("networks") or {"default"})


def test_in_compose_only_postgresql_shares_the_codec_servers_network() -> None:
    services = interpolated()["services"]
    codec = services["codec-server"]
    mine = _networks(codec)
    neighbours = {name for name, s in services.items() if _networks(s) & mine} - {"codec-server"}

    assert neighbours == {"postgresql"}
    # Every service its settings name (the payload store's host) is one it can reach.
    named = {
        host
        for value in (codec.get("environment") or {}).values()
        for host in re.findall(r"//(?:[^@/\s]*@)?([\w.-]+)", str(value))
        if host in services
    }
    assert named == {"postgresql"}
    # The user's browser reaches it through the port published on the host's loopback; the UI
    # container only tells the browser that address.
    assert [str(p).split(":")[0] for p in codec["ports"]] == ["127.0.0.1"]
    assert services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"].startswith(
        "http://localhost:"
    )
    assert "codec-server" not in services["temporal-ui"].get("depends_on", {})


async def test_silent_connections_are_closed_and_no_longer_lock_callers_out(
    tmp_path: Path,
) -> None:
    # A review (2026-12-07): uvicorn counts a connection that never sends a byte against the
    # server's 44 (limit_concurrency), with no timer until its first answer, so 44 idle sockets
    # answered every caller 503, the Web UI's included, for as long as they stayed open.
    silent: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    async with codec_server(tmp_path) as server, httpx.AsyncClient(timeout=2.0) as http:
        port, health = server.port, f"http://127.0.0.1:{server.port}/health"

        async def answers(status: int) -> bool:
            assert server.process.poll() is None, server.log.read_text()
            try:
                return (await http.get(health)).status_code == status
            except httpx.TransportError:
                return False

        try:
            for _ in range(MAX_CONNECTIONS):
                silent.append(await asyncio.open_connection("127.0.0.1", port))
            # One sends a request head and never ends it (a header line now and then would
            # stop uvicorn's own keep-alive timer each time).
            silent[0][1].write(b"GET /health HTTP/1.1\r\nHost: codec\r\n")
            await silent[0][1].drain()
            # The slots are taken (the server counts them as they arrive): 503 meanwhile ...
            await wait_until(lambda: answers(503), timeout=5, what="the slots to be taken")
            # ... until the silent ones are closed by the server, with no byte sent.
            await wait_until(
                lambda: answers(200), timeout=HEAD_SECONDS + 10, what="the silent ones to go"
            )
            # The server closed them: each reads its end, with nothing answered.
            ends = [await asyncio.wait_for(reader.read(), 5) for reader, _ in silent]
            assert ends == [b""] * MAX_CONNECTIONS
        finally:
            for _, writer in silent:
                writer.close()


async def test_a_connection_refused_before_its_body_was_read_is_closed(tmp_path: Path) -> None:
    # A review (2026-12-07): a request refused before its body was read (no token: 401) left
    # the client in the middle of its body; each byte it then sent now and then stopped
    # uvicorn's keep-alive timer, so 43 such sockets held the server's slots for good.
    token = "s3cret-codec-token-" + "x" * 20
    async with codec_server(tmp_path, token=token) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(
                b"POST /decode HTTP/1.1\r\nHost: codec\r\nContent-Type: application/json\r\n"
                b"Content-Length: 99999999\r\n\r\n{"
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 401"), head
            # Trickling on, the client finds its connection closed: read() ends (b"" once the
            # answer's body is read) rather than waiting for as long as it keeps sending.
            rest = b""
            for _ in range(50):  # a bound on a hang, each read at most 0.5 s
                writer.write(b" ")
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                try:
                    chunk = await asyncio.wait_for(reader.read(65536), 0.5)
                except TimeoutError:
                    continue
                except ConnectionError:
                    break
                if not chunk:
                    break
                rest += chunk
            else:
                raise AssertionError("the refused connection stayed open")
            assert b"bearer token is required" in rest
        finally:
            writer.close()


async def test_a_body_past_the_limit_still_gets_its_413_not_a_reset(tmp_path: Path) -> None:
    # Closing at once a connection answered before its body was read reset it (the kernel's
    # answer to unread bytes), and a 20 MB upload got a reset instead of its 413 (a review of
    # the change, 2026-12-07).
    from codec_server.settings import MAX_BODY_BYTES

    async with codec_server(tmp_path) as server, httpx.AsyncClient(timeout=30.0) as http:
        answer = await http.post(
            f"http://127.0.0.1:{server.port}/decode",
            content=b" " * (MAX_BODY_BYTES + 4 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413, answer.text
    assert "larger than" in answer.json()["error"]


async def test_an_audit_line_names_the_connections_address_not_what_a_header_claims(
    tmp_path: Path,
) -> None:
    # A review (2026-12-07): uvicorn believed X-Forwarded-For on any connection from this
    # machine, every caller of a server bound to 127.0.0.1, so a local program could name any
    # address in the record of who read plaintext, and (U+0085 in the header) write a line more.
    async with codec_server(tmp_path) as server, httpx.AsyncClient(timeout=5.0) as http:
        answer = await http.post(
            f"http://127.0.0.1:{server.port}/decode",
            json={"payloads": []},
            headers={
                "X-Namespace": "default",
                "X-Forwarded-For": b"10.0.4.7\x85codec server: audit: forged",
            },
        )
        assert answer.status_code == 200, answer.text
        await wait_until(
            lambda: "audit: " in server.log.read_text(errors="replace"),
            timeout=5,
            what="the audit line",
        )
    audit = [line for line in server.log.read_text().splitlines() if " audit: " in line]
    assert len(audit) == 1, audit
    assert audit[0].endswith(
        "from 127.0.0.1 (forwarded for 10.0.4.7?codec server: audit: forged, as the request "
        "says): 200"
    ), audit[0]
