"""A fake OpenAI-compatible server in its own process, for benchmarks: in the benchmark's process
its threads would compete with the worker for the interpreter lock, which a real provider, on
another machine, does not."""

import contextlib
import dataclasses
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.fake_llm import FakeLLMServer, Recorded, Reply, good_answers


@dataclass(frozen=True)
class RemoteLLM:
    port: int
    pid: int | None = None  # the server's process, for its CPU time

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _serve(
    latency: float,
    ports: "multiprocessing.Queue[int]",
    stop: "multiprocessing.Event",  # type: ignore[type-arg]
    pieces: int,
    draft_chars: int,
) -> None:
    def answer(request: Recorded) -> Reply:
        reply = dataclasses.replace(good_answers(request), delay=latency, pieces=pieces)
        if draft_chars and request.output_name == "Draft":
            text = reply.output["text"]
            text = (text + " ") * (draft_chars // (len(text) + 1) + 1)
            reply.output = {**reply.output, "text": text[:draft_chars]}
        return reply

    with FakeLLMServer() as fake:
        fake.responder = answer
        ports.put(fake.port)
        stop.wait()


@contextlib.contextmanager
def remote_llm(latency: float, pieces: int = 2, draft_chars: int = 0) -> Iterator[RemoteLLM]:
    """Every call answered validly after ``latency`` seconds, by a server in a child process,
    each answer streamed in ``pieces`` chunks; a Draft's text ``draft_chars`` long if given."""
    ctx = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = ctx.Queue()
    stop = ctx.Event()
    process = ctx.Process(
        target=_serve, args=(latency, ports, stop, pieces, draft_chars), daemon=True
    )
    process.start()
    try:
        yield RemoteLLM(ports.get(timeout=30), process.pid)
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()
