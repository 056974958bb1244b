"""What a copy of the data converter costs, with the SDK's pydantic payload converter and with
the project's (shared/payload_converter.py), side by side in one process.

    python -m bench converter_copies [--copies N] [--rounds R]

temporalio 1.35 copies the data converter (``dataclasses.replace``) for every payload's store
context when external storage is on, and each copy builds a new payload converter. One "copy"
here is what a worker does for one payload: copy the converter, then decode one agent reply
(``AgentReply[Classification]``, as an activity result reaches a ticket) with it. The two kinds
alternate round by round; reported is the median microseconds per copy over the rounds and the
ratio. How many copies a ticket makes is in docs/performance.md ("The payload converter's
copies"), counted once in the real ticket worker.
"""

import argparse
import dataclasses
import statistics
import time

from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter

from shared.agents import AgentReply, Category, Classification, Usage
from shared.data_converter import data_converter
from shared.payload_converter import SharedPydanticPayloadConverter

REPLY = AgentReply[Classification](
    output=Classification(
        category=Category.BILLING, confidence=0.92, rationale="a refund for a double charge"
    ),
    usage=Usage(
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=420,
        output_tokens=35,
        cost_usd=0.0004,
        latency_ms=812,
    ),
)
HINT = AgentReply[Classification]


def per_copy_us(converter: DataConverter, copies: int) -> float:
    [payload] = converter.payload_converter.to_payloads([REPLY])
    began = time.perf_counter()
    for _ in range(copies):
        copy = dataclasses.replace(converter)
        copy.payload_converter.from_payloads([payload], [HINT])
    return (time.perf_counter() - began) / copies * 1e6


def run(copies: int, rounds: int) -> int:
    ours = data_converter(key_ring=None)
    sdks = dataclasses.replace(ours, payload_converter_class=PydanticPayloadConverter)
    inner = ours.payload_converter._inner_payload_converter  # type: ignore[attr-defined]
    assert isinstance(inner, SharedPydanticPayloadConverter)
    times: dict[str, list[float]] = {"sdk": [], "ours": []}
    arms = [("sdk", sdks), ("ours", ours)]
    for round_no in range(rounds):
        # Each first in turn (a review, 2026-12-07: the SDK's always ran first).
        for name, converter in arms if round_no % 2 == 0 else arms[::-1]:
            times[name].append(per_copy_us(converter, copies))
    sdk, own = statistics.median(times["sdk"]), statistics.median(times["ours"])
    print(
        f"{copies} copies per round, {rounds} rounds alternating; median microseconds per copy "
        "(copy the data converter, decode one agent reply with it)\n"
    )
    print("| payload converter | µs per copy | ratio |\n|---|---:|---:|")
    print(f"| temporalio.contrib.pydantic.PydanticPayloadConverter | {sdk:.1f} | 1.00 |")
    print(
        f"| shared.payload_converter.SharedPydanticPayloadConverter | {own:.1f} | {own / sdk:.2f} |"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench converter_copies")
    parser.add_argument("--copies", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    return run(args.copies, args.rounds)
