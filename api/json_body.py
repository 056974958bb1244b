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
from shared.validation import NameGivenTwice, RepeatedNames, first_repeated, marking_repeats

IN_THREAD_BYTES = 64 * 1024
# Routes that take a list of items and refuse each bad one alone: an item naming a member twice
# is left marked (shared.validation.RepeatedNames) for the route to refuse by its index, and the
# valid items go through (the whole request was refused, 400, naming no item).
PER_ITEM_PATHS = frozenset({"/tickets"})


def _parse(body: bytes, per_item: bool = False) -> Any:
    # UTF-8 only (RFC 8259 8.1; a byte order mark is passed over): json.loads reads bytes in
    # UTF-16 and UTF-32 too, and such a body was taken. Their ASCII characters hold NUL bytes,
    # which JSON text in UTF-8 never does (not even inside a string).
    text = body.decode("utf-8-sig")
    if (nul := text.find("\0")) >= 0:
        raise json.JSONDecodeError("a NUL character (text in UTF-16 or UTF-32?)", text, nul)
    value = json.loads(text, object_pairs_hook=marking_repeats)
    # On a per-item route, an item of a list that names a member twice, at any depth, is marked
    # for the route to refuse alone (a repeat inside one item's own object refused the whole
    # request, its valid neighbours too); an item that is no object is refused alone anyway
    # (a list holding such an object refused them all); anything else is refused.
    listed = per_item and isinstance(value, list)
    for index, item in enumerate(value if listed else [value]):
        if listed and isinstance(item, RepeatedNames):
            continue
        if listed and isinstance(item, dict):
            if (name := first_repeated([*item.values()])) is not None:
                marked = RepeatedNames(item)
                marked.repeated = name
                value[index] = marked
            continue
        if listed:
            continue
        if (name := first_repeated([item])) is not None:
            raise NameGivenTwice(name)
    return value


class OnceEachRequest(Request):
    per_item = False

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await in_thread_if(
                len(body) > IN_THREAD_BYTES, _parse, body, self.per_item
            )
        return self._json


class OnceEachJSONRoute(APIRoute):
    """Every route of a router made with ``APIRouter(route_class=OnceEachJSONRoute)``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        per_item = self.path in PER_ITEM_PATHS

        async def once_each_handler(request: Request) -> Response:
            wrapped = OnceEachRequest(request.scope, request.receive)
            wrapped.per_item = per_item
            return await handler(wrapped)

        return once_each_handler
