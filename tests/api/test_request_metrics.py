"""The API's requests as Prometheus metrics (api/request_metrics.py) on the Temporal runtime's
real /metrics endpoint: counted by route template (never the path, which names a ticket), method
(any the client makes up is "other") and status, timed per route; a request no route answered
(an unknown path, a refusal before routing) is one label value."""

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.request_metrics import RequestMetrics
from api.settings import ApiSettings
from api.temporal import TemporalConnection
from shared.metrics import prometheus_runtime
from tests.support.api_server import Tokens, bearer, served
from tests.support.processes import free_port


def samples(text: str, name: str) -> dict[str, float]:
    """The series of ``name`` in a /metrics page: their labels (without the runtime's own
    service_name) to their value."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            found[labels.replace(',service_name="temporal-core-sdk"', "")] = float(value)
    return found


async def test_each_request_is_counted_by_route_method_and_status(
    api_temporal: Client, tokens: Tokens
) -> None:
    metrics_address = f"127.0.0.1:{free_port()}"
    runtime = prometheus_runtime(metrics_address)

    async def same_client() -> Client:
        return api_temporal

    app = create_app(
        ApiSettings(),
        tokens.registry(),
        TemporalConnection(factory=same_client),
        meter=runtime.metric_meter,
    )
    async with served(app) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        missing = await http.get("/tickets/T-metrics-404", headers=bearer(tokens.read))
        assert missing.status_code == 404
        assert (await http.get("/tickets/T-metrics-404")).status_code == 401
        assert (await http.get("/no/such/page")).status_code == 404
        # Refused by a middleware before routing: no route answered.
        assert (await http.post("/tickets", json={"subject": "x"})).status_code == 401
        # A method is a token the client chooses: one label value for any unknown one.
        assert (await http.request("X0GARBAGE", "/healthz")).status_code in (400, 401, 405)
        page = (await http.get(f"http://{metrics_address}/metrics")).text

    requests = samples(page, "tickets_api_requests_total")
    assert requests['{method="GET",route="/healthz",status="200"}'] == 2
    assert requests['{method="GET",route="/tickets/{ticket_id}",status="404"}'] == 1
    assert requests['{method="GET",route="/tickets/{ticket_id}",status="401"}'] == 1
    assert requests['{method="GET",route="unmatched",status="404"}'] == 1
    assert requests['{method="POST",route="unmatched",status="401"}'] == 1
    assert [labels for labels in requests if 'method="other"' in labels]
    assert not [labels for labels in requests if "GARBAGE" in labels or "T-metrics" in labels]
    timed = samples(page, "tickets_api_request_duration_seconds_count")
    assert timed['{method="GET",route="/healthz"}'] == 2


class FakeMeter:
    """A fake of the Temporal runtime's meter: what was counted, by labels."""

    def __init__(self) -> None:
        self.counted: list[dict[str, str]] = []

    def create_counter(self, *_: object) -> "FakeMeter":
        return self

    def create_histogram_timedelta(self, *_: object) -> "FakeMeter":
        return self

    def add(self, value: int, labels: dict[str, str]) -> None:
        self.counted.append(labels)

    def record(self, *_: object) -> None:
        pass


@pytest.mark.parametrize("answered", [False, True])
async def test_a_request_cancelled_before_its_answer_is_no_500(answered: bool) -> None:
    """A rolling restart cancels the requests in flight: counted 500, each fired the API's 5xx
    alert. One cancelled after its answer began keeps that answer's status."""

    async def app(scope: object, receive: object, send: Callable[[dict], Awaitable[None]]) -> None:  # type: ignore[type-arg]
        if answered:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise asyncio.CancelledError

    async def send(message: object) -> None:
        pass

    meter = FakeMeter()
    middleware = RequestMetrics(app, meter)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "GET", "path": "/tickets/T-1"}
    with pytest.raises(asyncio.CancelledError):
        await middleware(scope, None, send)  # type: ignore[arg-type]
    assert meter.counted == [
        {"route": "unmatched", "method": "GET", "status": "200" if answered else "499"}
    ]


async def test_a_request_whose_client_went_away_mid_body_is_no_500() -> None:
    """A console form's upload cut off (a reviewer closing the tab): the body limit's reader
    returns with no answer, there being no one to answer; counted 500, it fed the API's 5xx
    alert. A request answered after a disconnect keeps that answer's status."""
    from api.body_limit import BodyLimitMiddleware

    async def inner(scope: object, receive: object, send: object) -> None:
        raise AssertionError("the form never arrived whole: nothing reaches the routes")

    messages = [
        {"type": "http.request", "body": b"decision=approve", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    sent: list[object] = []

    async def send(message: object) -> None:
        sent.append(message)

    meter = FakeMeter()
    middleware = RequestMetrics(BodyLimitMiddleware(inner, 1_000_000), meter)  # type: ignore[arg-type]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/console/tickets/T-1/review",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
    }
    await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert sent == []
    assert meter.counted == [{"route": "unmatched", "method": "POST", "status": "499"}]
