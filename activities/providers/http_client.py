"""The HTTP client under each provider's SDK: the SDK's own default client (its timeouts,
connection limits, redirects) over the configured transport (``http_transport``: the SDKs'
aiohttp transport, or their default httpx2), with W3C trace context on every request and the
provider's hook on every response. docs/providers.md, docs/performance.md ("The provider's
HTTP transport")."""

import urllib.request
from collections.abc import Awaitable, Callable

import httpx2
from opentelemetry import propagate

from activities.providers.errors import ProviderCheckError
from shared.provider_config import ProviderConfig


def socks_proxy_in_environment() -> bool:
    """Whether a proxy variable (``ALL_PROXY``, ``HTTPS_PROXY``, ... in either case) names a
    SOCKS proxy."""
    return any(url.lower().startswith("socks") for url in urllib.request.getproxies().values())


async def _trace_context(request: httpx2.Request) -> None:
    """W3C trace context (``traceparent``) on every request made inside a span, as
    OpenTelemetry's HTTP instrumentations send it: a gateway or self-hosted model server that
    traces (LiteLLM, vLLM) joins the agent call's trace. Only ids, never content; nothing
    outside a span or with tracing off."""
    propagate.inject(request.headers)


def sdk_http_client(
    config: ProviderConfig,
    over_aiohttp: Callable[..., httpx2.AsyncClient],
    over_httpx: Callable[..., httpx2.AsyncClient],
    response_seen: Callable[[httpx2.Response], Awaitable[None]],
) -> httpx2.AsyncClient:
    """``over_aiohttp`` or ``over_httpx`` (an SDK's ``DefaultAioHttpClient`` and
    ``DefaultAsyncHttpxClient``) as ``config`` says. A SOCKS proxy in the environment takes
    httpx2: the aiohttp transport would send it HTTP (a plain ``CONNECT`` naming the provider's
    host, and every call failing as a connection error); httpx2 speaks SOCKS with its socks
    extra, and without it the worker stops at start saying so (``ProviderCheckError``)."""
    socks = socks_proxy_in_environment()
    make = over_aiohttp if config.http_transport == "aiohttp" and not socks else over_httpx
    try:
        return make(event_hooks={"request": [_trace_context], "response": [response_seen]})
    except ImportError:
        if not socks:
            raise
        # httpx2 without its socks extra: said as the configuration problem it is, not as a
        # traceback (the proxy's URL, which may hold a password, is not repeated).
        raise ProviderCheckError(
            f"{config.kind}: the environment names a SOCKS proxy (ALL_PROXY, HTTPS_PROXY or "
            "HTTP_PROXY), which the providers reach through httpx2's socks extra: install "
            "'httpx2[socks]', or name an HTTP proxy"
        ) from None
