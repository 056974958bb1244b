"""A raw HTTP/1.1 server on 127.0.0.1 for the failures no well-behaved server produces (a
malformed chunk, a response head too large for aiohttp): it reads each request and writes the
bytes a test gives it, as they are. Runs on the test's own event loop."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

# One streamed chat completion chunk and one Anthropic event, as the APIs send them.
OPENAI_FIRST = (
    b'data: {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "{"}}]}\n\n'
)
ANTHROPIC_FIRST = b"event: ping\ndata: " + json.dumps({"type": "ping"}).encode() + b"\n\n"

STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def chunk(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(body), body)


# The request's path -> the writes, in order; a number between them is a pause, in seconds.
Script = Callable[[str], list[bytes | float]]


@asynccontextmanager
async def raw_server(script: Script, then_wait: bool) -> AsyncIterator[str]:
    """The server's base URL. Each request gets ``script(path)`` written; then the connection
    stays open until the test ends (``then_wait``) or is closed."""
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            length = next(
                (
                    int(v)
                    for k, _, v in (h.partition(":") for h in lines[1:])
                    if k.lower() == "content-length"
                ),
                0,
            )
            if length:
                await reader.readexactly(length)
            for part in script(lines[0].split(" ")[1]):
                if isinstance(part, float):
                    await asyncio.sleep(part)
                    continue
                writer.write(part)
                await writer.drain()
            if then_wait:
                await done.wait()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        done.set()
        server.close()
        await server.wait_closed()
