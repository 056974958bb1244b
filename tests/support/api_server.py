"""The HTTP API for tests: the real application served by uvicorn in the test process, on a free
port of 127.0.0.1, against the dev server (its own namespace, so what the API lists is only what
these tests made)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from temporalio.client import Client

from api.accounts import Account, Role, TokenRegistry, new_token, token_hash
from api.app import create_app
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from tests.support.processes import free_port

# Registered on the dev server when it starts (tests/conftest.py), with the ticket search
# attributes; nothing else runs there.
API_TEST_NAMESPACE = "api-tests"
# The fuzzer's tickets go here, where no worker runs: they only need to be accepted.
API_FUZZ_NAMESPACE = "api-fuzz"
# The ids the web form's token may give its tickets start with this (Tokens.web_form).
WEB_FORM_ID_PREFIX = "WEB-"


@dataclass(frozen=True)
class Tokens:
    """One token per role, plus a second reviewer (for two people reviewing one ticket) and a
    web form's submit token whose tickets' own ids must start with WEB_FORM_ID_PREFIX."""

    submit: str
    review: str
    second_reviewer: str
    admin: str
    read: str
    web_form: str

    @classmethod
    def fresh(cls) -> "Tokens":
        return cls(*(new_token() for _ in range(6)))

    def registry(self) -> TokenRegistry:
        entries = [
            (Account("helpdesk", frozenset({Role.SUBMIT})), self.submit),
            (Account("dashboard", frozenset({Role.READ})), self.read),
            (Account("ana", frozenset({Role.REVIEW})), self.review),
            (Account("bob", frozenset({Role.REVIEW})), self.second_reviewer),
            (Account("lead", frozenset({Role.ADMIN})), self.admin),
            (Account("web-form", frozenset({Role.SUBMIT}), WEB_FORM_ID_PREFIX), self.web_form),
        ]
        return TokenRegistry([(account, token_hash(token)) for account, token in entries])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class _InProcessServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test process keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(client: Client, tokens: TokenRegistry, **settings: Any) -> AsyncIterator[str]:
    """The API on a free port until the block ends; yields its base URL."""

    async def same_client() -> Client:
        return client

    port = free_port()
    app = create_app(
        ApiSettings(port=port, **settings), tokens, TemporalConnection(factory=same_client)
    )
    async with served(app, port) as url:
        yield url


@contextlib.asynccontextmanager
async def served(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """An ASGI ``app`` served by uvicorn in this process on 127.0.0.1 (a free port unless
    ``port``) until the block ends; yields its base URL."""
    port = port or free_port()
    server = _InProcessServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
