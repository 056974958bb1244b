"""The worker's start-up model check reads whatever a compatible server's models list answers:
a 200 without ``data``, or entries without an ``id``, stopped the worker with a traceback
(the check is meant to warn at most). The real SDKs parse the bodies, over a mock transport
(a fake of the server: only the body's shape matters here)."""

from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from activities.providers.startup_checks import listed_ids, unlisted_models

SHAPES: list[dict[str, Any]] = [
    {"object": "list"},
    {"models": [{"id": "gpt-4.1-mini"}]},
    {"data": [{"name": "gpt-4.1-mini"}]},
    {"data": "none"},
]


@pytest.mark.parametrize("body", SHAPES)
async def test_a_models_list_of_another_shape_is_not_judged(body: dict[str, Any]) -> None:
    openai_client = openai.AsyncOpenAI(
        api_key="k",
        base_url="http://server.invalid/v1",
        http_client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body))
        ),
    )
    anthropic_client = anthropic.AsyncAnthropic(
        api_key="k",
        base_url="http://server.invalid",
        http_client=httpx2.AsyncClient(
            transport=httpx2.MockTransport(lambda _: httpx2.Response(200, json=body))
        ),
    )
    for page in (await openai_client.models.list(), await anthropic_client.models.list()):
        assert listed_ids(page) == []
        assert unlisted_models("gateway", ["gpt-4.1-mini"], listed_ids(page)) is None


async def test_ids_are_read_from_a_list_of_models() -> None:
    body = {"object": "list", "data": [{"id": "gpt-4.1-mini", "object": "model"}, {"id": 7}]}
    client = openai.AsyncOpenAI(
        api_key="k",
        base_url="http://server.invalid/v1",
        http_client=httpx.AsyncClient(
            transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body))
        ),
    )
    assert listed_ids(await client.models.list()) == ["gpt-4.1-mini"]
