"""The API's requests as Prometheus metrics (api/request_metrics.py) on the Temporal runtime's
real /metrics endpoint: counted by route template (never the path, which names a ticket), method
(any the client makes up is "other") and status, timed per route; a request no route answered
(an unknown path, a refusal before routing) is one label value."""

import httpx
from temporalio.client import Client

from api.app import create_app
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
