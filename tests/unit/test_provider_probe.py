"""The provider's first call to a rate-controlled provider is the pacer's probe, and the probe
ends however the call ends: a cancellation as the call's heartbeats stop (the attempt cancelled
just as its turn came) left the pacer probing, and every later call on that worker waited
PROBE_WAIT_SECONDS before going out unpaced."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from activities.providers import structured
from activities.providers.openai_provider import OpenAIProvider
from activities.providers.pacing import CallPacer
from shared.provider_config import default_prices, default_providers


@contextlib.asynccontextmanager
async def cancelled_as_heartbeats_stop() -> AsyncIterator[None]:
    yield
    raise asyncio.CancelledError  # the attempt's cancellation, delivered in stop_background


async def test_a_probe_cancelled_as_its_heartbeats_stop_still_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = default_providers()["openai"].model_copy(update={"adaptive_limit": True})
    provider = OpenAIProvider("openai", config, "sk-test", default_prices())
    pacer = provider._pacer
    assert isinstance(pacer, CallPacer)  # rate-controlled: the first call probes
    calls: list[str] = []

    async def answered(*_: object) -> SimpleNamespace:
        calls.append("sent")
        return SimpleNamespace(input_tokens=10, output_tokens=5)

    provider._call = answered  # type: ignore[method-assign]
    monkeypatch.setattr(structured, "heartbeating", cancelled_as_heartbeats_stop)
    with pytest.raises(asyncio.CancelledError):
        await provider._sent(None, "gpt-4.1-mini", [])  # type: ignore[arg-type]

    # The next call probes at once (left probing, it waited 5 s for a probe that had gone).
    assert await asyncio.wait_for(pacer.turn(lambda: None), timeout=1.0) is True
    assert calls == []  # the cancelled one never went out
