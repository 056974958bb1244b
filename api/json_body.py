"""JSON bodies read with each name once: a route class whose requests parse JSON refusing an
object that names a member twice.

Python's json (which FastAPI's ``Request.json`` uses) keeps the last of two members of one name
without a word, so ``{"id": "A", ..., "id": "B"}`` would be taken as ticket B. The command line's
JSON Lines refuse it (starter/inputs.py); the API answers 400 naming the member (FastAPI turns the
parser's exception into "There was an error parsing the body", which api/errors.py words from the
exception behind it). The body is still read once: Starlette keeps the bytes, and FastAPI takes
the parsed value from ``json()``.

A body over ``IN_THREAD_BYTES`` is parsed in a thread: it is parsed before the route checks the
token's role or its rate, and 1 MiB of ``[{},{},...]`` (a Python call per object) held the whole
API's event loop 90 ms for any token.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from shared.off_loop import in_thread_if
from shared.validation import once_each

IN_THREAD_BYTES = 64 * 1024


def _parse(body: bytes) -> Any:
    return json.loads(body, object_pairs_hook=once_each)


class OnceEachRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await in_thread_if(len(body) > IN_THREAD_BYTES, _parse, body)
        return self._json


class OnceEachJSONRoute(APIRoute):
    """Every route of a router made with ``APIRouter(route_class=OnceEachJSONRoute)``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def once_each_handler(request: Request) -> Response:
            return await handler(OnceEachRequest(request.scope, request.receive))

        return once_each_handler
