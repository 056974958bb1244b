"""CPU a worker spends per model call in the provider code, side by side with the SDKs' typed calls.

    python -m bench provider_cpu [--calls N] [--rounds R]

A fake OpenAI/Anthropic server in its own process answers every call at once, streaming the
answer in chunks as a model does (about one per token). For each provider and answer size this
process makes N calls each way, R rounds alternating, and prints the CPU milliseconds per call:

- **SDK, typed**: ``chat.completions.create(stream=True)`` read chunk by chunk, and Anthropic's
  ``messages.stream`` helper with its final message: how the providers called the SDKs before
  (over the SDK's default transport, httpx2);
- **provider, httpx**: the project's provider call (``_call``: the SDK's ``post`` with the
  documented body, the streamed chunks read as JSON objects) with ``http_transport = "httpx"``;
- **provider, aiohttp**: the same call over the SDK's aiohttp transport (``DefaultAioHttpClient``),
  the default ``http_transport``.

All three send the same body to the same server through the same SDK; the first two differ only
in what happens between the bytes and the answer, the last two only in the HTTP transport.
Answers: a classification (2 chunks) and a resolver's draft of ~1,200 characters streamed in ~300
chunks (a 300-token answer).
"""

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from activities.agent_specs import CLASSIFIER, RESOLVER
from activities.providers.anthropic_provider import AnthropicProvider, submit_tool, tool_name
from activities.providers.base import AgentSpec
from activities.providers.openai_provider import OpenAIProvider
from bench.remote_llm import RemoteLLM, remote_llm
from shared.agents import Category, Classification, ClassifyRequest, DraftRequest, Priority
from shared.provider_config import default_prices, default_providers
from tests.support.tickets import make_ticket

DRAFT_CHARS = 1200
LONG_PIECES = 300
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


async def sdk_typed_openai(
    provider: OpenAIProvider, spec: AgentSpec[Any, Any], model: str, conversation: Any
) -> str:
    stream = await provider._client.chat.completions.create(
        model=model,
        messages=conversation,
        response_format=provider._response_format(spec),  # type: ignore[arg-type]
        max_completion_tokens=provider.config.max_output_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                parts.append(choice.delta.content)
    return "".join(parts)


async def sdk_typed_anthropic(
    provider: AnthropicProvider, spec: AgentSpec[Any, Any], model: str, conversation: Any
) -> str:
    name = tool_name(spec)
    tool = submit_tool(spec)
    async with provider._client.messages.stream(
        model=model,
        max_tokens=provider.config.max_output_tokens,
        system=spec.instructions,
        messages=conversation,
        tools=[tool],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": name},
    ) as stream:
        async for _event in stream:
            pass
        message = await stream.get_final_message()
    return str(message.content[0])


def build(kind: str, fake: RemoteLLM, transport: str) -> OpenAIProvider | AnthropicProvider:
    base = fake.openai_base_url if kind == "openai" else fake.anthropic_base_url
    config = default_providers()[kind].model_copy(
        update={"base_url": base, "http_transport": transport}
    )
    cls = OpenAIProvider if kind == "openai" else AnthropicProvider
    return cls(kind, config, "sk-bench", default_prices())


async def cpu_per_call(call: Callable[[], Awaitable[Any]], n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        await call()
    return (time.process_time() - started) * 1000 / n


def agent_inputs() -> dict[str, tuple[AgentSpec[Any, Any], Any]]:
    ticket = make_ticket()
    classification = Classification(
        category=Category.ACCOUNT, confidence=0.9, rationale="sign-in problem"
    )
    return {
        "classification": (CLASSIFIER, ClassifyRequest(ticket=ticket)),
        "draft": (
            RESOLVER,
            DraftRequest(
                ticket=ticket,
                classification=classification,
                priority=Priority.LOW,
                articles=[],
                revision=1,
            ),
        ),
    }


async def measure(
    kind: str, fake: RemoteLLM, agent: str, calls: int, rounds: int
) -> tuple[float, float, float]:
    """Median CPU milliseconds per call, SDK typed, provider over httpx and provider over
    aiohttp, for one agent's answer."""
    over_httpx = build(kind, fake, "httpx")
    over_aiohttp = build(kind, fake, "aiohttp")
    typed = sdk_typed_openai if kind == "openai" else sdk_typed_anthropic
    model = MODELS[kind]
    spec, agent_input = agent_inputs()[agent]
    conversation = over_httpx._conversation(spec, agent_input)

    async def sdk() -> Any:
        return await typed(over_httpx, spec, model, conversation)  # type: ignore[arg-type]

    async def ours_httpx() -> Any:
        return await over_httpx._call(spec, model, conversation)

    async def ours_aiohttp() -> Any:
        return await over_aiohttp._call(spec, model, conversation)

    ways = (sdk, ours_httpx, ours_aiohttp)
    try:
        for way in ways:  # warm every path: imports, connections, schema caches
            await way()
        ms: list[list[float]] = [[] for _ in ways]
        arms = list(zip(ms, ways, strict=True))
        for round_no in range(rounds):
            # Each first in turn, the order rotating (a review, 2026-12-07: typed, httpx,
            # aiohttp in every round).
            turn = round_no % len(arms)
            for taken, way in arms[turn:] + arms[:turn]:
                taken.append(await cpu_per_call(way, calls))
    finally:
        await over_httpx.aclose()
        await over_aiohttp.aclose()
    first, second, third = (statistics.median(m) for m in ms)
    return first, second, third


async def run(calls: int, rounds: int) -> int:
    print(
        f"fake server in its own process, answering at once; {calls} calls each way per round, "
        f"{rounds} rounds alternating, median of rounds (CPU of this process only)\n"
    )
    print(
        "| provider | answer | SDK, typed (ms CPU/call) | provider, httpx | provider, aiohttp "
        "(default) | httpx ÷ typed | aiohttp ÷ httpx |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    answers = (
        ("classification", "classification, 2 chunks", 2, 0),
        (
            "draft",
            f"draft of {DRAFT_CHARS} characters, {LONG_PIECES} chunks",
            LONG_PIECES,
            DRAFT_CHARS,
        ),
    )
    for agent, label, pieces, draft_chars in answers:
        with remote_llm(0.0, pieces=pieces, draft_chars=draft_chars) as fake:
            for kind in ("openai", "anthropic"):
                typed, httpx, aiohttp = await measure(kind, fake, agent, calls, rounds)
                print(
                    f"| {kind} | {label} | {typed:.2f} | {httpx:.2f} | {aiohttp:.2f} | "
                    f"{httpx / typed:.2f} | {aiohttp / httpx:.2f} |"
                )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench provider_cpu")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.calls, args.rounds))
