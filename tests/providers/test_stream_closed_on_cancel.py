"""A streamed answer's response is closed however the call ends, also when a cancellation lands
as the heartbeats that ran until the response started stop: it landed before `async with
stream`, and the response stayed open, its connection held until the server gave up on it.
A fake stream stands in for the SDK's (named as a fake); the provider is the real one."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from activities.providers import streamed_calls
from tests.providers.fake_stream import FakeStreamServer, stream_provider


class StreamFake:
    """Counts its closes; the SDK's AsyncStream closes its response the same way."""

    def __init__(self) -> None:
        self.closed = 0

    async def close(self) -> None:
        self.closed += 1

    async def __aenter__(self) -> "StreamFake":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


@pytest.mark.parametrize("provider_name", ["openai", "anthropic"])
async def test_a_cancellation_as_the_heartbeats_stop_closes_the_response(
    provider_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = StreamFake()

    @contextlib.asynccontextmanager
    async def cancelled_as_beats_stop() -> AsyncIterator[None]:
        yield
        raise asyncio.CancelledError()  # the activity cancelled in that instant

    async def post(*args: Any, **kwargs: Any) -> StreamFake:
        return stream

    monkeypatch.setattr(streamed_calls, "heartbeating", cancelled_as_beats_stop)
    with FakeStreamServer() as fake:
        async with stream_provider(provider_name, fake) as provider:
            with pytest.raises(asyncio.CancelledError):
                await provider._stream_json(post, "/v1/x", {}, object, lambda chunk: None)

    assert stream.closed == 1
