"""Observability end to end, with real parts: a dev server, a worker process on the openai SDK
against the fake LLM server (the first attempt of every call gets a 429), tickets submitted and
reviewed through the CLI, the worker's /metrics, a real Prometheus scraping it with the shipped
alert rules, and the spans of both processes arriving over OTLP/HTTP at a receiver."""

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from temporalio.client import Client

from shared import names
from shared import operations as ops
from shared import report as reports
from shared import ticket_listing as listing
from shared.data_converter import data_converter
from shared.temporal_client import connect, connection_settings
from starter.embedded import EmbeddedServer
from starter.worker_process import WorkerProcess
from tests.support.fake_llm import GOOD_OUTPUTS, FakeLLMServer, Recorded, Reply
from tests.support.llm_pipeline import OPENAI_KEY
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import environment, free_port, run_cli
from tests.support.prometheus import DASHBOARD, PrometheusServer, samples, scrape
from tests.support.temporal import wait_until

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TICKETS = [
    {"id": f"OBS-{n}", "subject": "Cannot reset my password", "body": f"Reset mail {n} missing."}
    for n in range(1, 6)
] + [{"id": "OBS-9", "subject": "Wrong invoice amount", "body": "My invoice is twice the price."}]
REVIEWED = "OBS-9"  # classified Billing, a category the worker sends to review
SPEND_LIMIT = 5.0
# One series per agent (classifier, triage, resolver, validator) once each has had a 429.
RATE_LIMITED_SERIES = 'tickets_provider_failures_total{class="rate_limited"}'
SETTLE_TIMEOUT = 90.0


class FirstAttemptRateLimited:
    """Answers like a good model, except that the first request of each agent for each ticket
    gets a 429 with Retry-After: 1 (so 429s keep coming for several seconds)."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()
        self.rate_limited = 0
        self._lock = threading.Lock()

    def __call__(self, request: Recorded) -> Reply:
        name = request.output_name or ""
        found = re.search(r"Ticket (\S+) \(customer", request.text)
        key = (found.group(1) if found else "", name)
        with self._lock:
            first = key not in self.seen
            self.seen.add(key)
            if first:
                self.rate_limited += 1
        if first:
            return Reply(
                status=429,
                error_type="rate_limit_error",
                error_message="rate limit reached",
                headers={"retry-after": "1"},
            )
        output = dict(GOOD_OUTPUTS[name])
        if name == "Classification" and key[0] == REVIEWED:
            output["category"] = "Billing"
        return Reply(output=output)


@dataclass
class Observed:
    server: EmbeddedServer
    metrics_url: str
    prometheus: PrometheusServer
    receiver: OtlpReceiver
    llm: FirstAttemptRateLimited
    cli_env: dict[str, str]
    started: float
    outputs: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    folder = tmp_path_factory.mktemp("observed")
    llm = FirstAttemptRateLimited()
    with FakeLLMServer() as fake, OtlpReceiver() as receiver:
        fake.responder = llm
        server = EmbeddedServer(
            folder, "127.0.0.1", free_port(), ui=False, register_search_attributes=False
        )
        asyncio.run(server.start())
        # Stopped whatever fails after it starts (the Prometheus set-up raising left it running).
        try:
            metrics_address = f"127.0.0.1:{free_port()}"
            otel = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 100 ms, not every 5 s
            }
            base = {
                k: v
                for k, v in environment(server.address, folder).items()
                if not k.startswith(("OTEL_", "OPENAI_", "ANTHROPIC_"))
            }
            worker_env = {
                **base,
                **otel,
                "OTEL_SERVICE_NAME": "ticket-worker",
                "OPENAI_API_KEY": OPENAI_KEY,
                "OPENAI_BASE_URL": fake.openai_base_url,
                "TICKETS_METRICS_ADDRESS": metrics_address,
                "TICKETS_SPEND_LIMIT_USD_PER_HOUR": str(SPEND_LIMIT),
                "TICKETS_WORKER_REPLICAS": "1",
                "TICKETS_SENSITIVE_CATEGORIES": "Billing",
            }
            worker = WorkerProcess(folder, server.address, worker_env)
            prometheus = PrometheusServer(folder, [metrics_address])
            try:
                asyncio.run(worker.start())
                prometheus.start()
                started = time.time()
                cli_env = {**base, **otel, "OTEL_SERVICE_NAME": "ticket-cli"}
                observed = Observed(
                    server,
                    f"http://{metrics_address}/metrics",
                    prometheus,
                    receiver,
                    llm,
                    cli_env,
                    started,
                )
                # A counter series exists from its first increment, and Prometheus takes its first
                # sample as the start: all of one agent's 429s inside one scrape interval would read
                # as no rise at all. So one ticket goes first, and the rest only once Prometheus has
                # scraped the series that ticket created.
                first, rest = folder / "first.jsonl", folder / "rest.jsonl"
                first.write_text(json.dumps(TICKETS[0]) + "\n")
                rest.write_text("".join(json.dumps(t) + "\n" for t in TICKETS[1:]))
                submitted = run_cli(cli_env, "submit", str(first), "--wait", "--timeout", "60")
                assert submitted.code == 0, submitted.output
                asyncio.run(
                    wait_until(
                        lambda: len(prometheus.query(RATE_LIMITED_SERIES)) == 4,
                        timeout=30,
                        what="Prometheus to scrape the first ticket's 429s",
                    )
                )
                submitted = run_cli(cli_env, "submit", str(rest), "--wait", "--timeout", "60")
                assert submitted.code == 0, submitted.output
                reviewed = run_cli(cli_env, "review", REVIEWED, "--approve", "--reviewer", "ana")
                assert reviewed.code == 0, reviewed.output + worker.output()[-3000:]
                observed.outputs = [submitted.output, reviewed.output]
                yield observed
            finally:
                prometheus.stop()
                asyncio.run(worker.stop())
        finally:
            asyncio.run(server.stop())


@pytest.fixture
async def client(observed: Observed) -> AsyncIterator[Client]:
    # The embedded server's data directory holds the key file its processes encrypt with.
    env = {**os.environ, "TICKETS_DATA_DIR": str(observed.server.data_dir)}
    yield await connect(
        connection_settings({"TEMPORAL_ADDRESS": observed.server.address}),
        converter=data_converter(env=env),
    )


async def settled_report(client: Client) -> reports.Report:
    async def all_completed() -> reports.Report | None:
        report = reports.build_report(await listing.list_tickets(client))
        return report if report.by_state == {"COMPLETED": len(TICKETS)} else None

    return await wait_until(all_completed, timeout=SETTLE_TIMEOUT, what="every ticket completed")


async def test_the_worker_serves_temporal_and_product_metrics_that_match_the_report(
    observed: Observed, client: Client
) -> None:
    report = await settled_report(client)
    rate_limited = observed.llm.rate_limited
    assert rate_limited == 4 * len(TICKETS)  # classify, triage, draft, validate: once each

    def complete() -> str | None:
        text = scrape(observed.metrics_url)  # a local endpoint: answers in milliseconds
        finished = sum(samples(text, "tickets_finished_total", state="COMPLETED"))
        return text if finished == len(TICKETS) else None

    text = await wait_until(complete, timeout=SETTLE_TIMEOUT, what="metrics of every ticket")
    # Temporal's own SDK metrics, in seconds and with suffixes.
    for name in (
        "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
        "temporal_activity_schedule_to_start_latency_seconds_bucket",
        "temporal_worker_task_slots_available",
        "temporal_num_pollers",
    ):
        assert samples(text, name), f"no {name}"
    # The product's.
    assert sum(samples(text, "tickets_provider_failures_total", **{"class": "rate_limited"})) == (
        rate_limited
    )
    assert (
        sum(samples(text, "tickets_agent_call_duration_seconds_count", outcome="rate_limited"))
        == rate_limited
    )
    ok_calls = sum(samples(text, "tickets_agent_call_duration_seconds_count", outcome="ok"))
    assert ok_calls == report.calls == 4 * len(TICKETS)
    assert samples(text, "tickets_review_wait_seconds_count", action="approve") == [1.0]
    # The series the failure alerts count are there at 0 from the start, labelled as the
    # workflow's own: a first failure after a restart that kept the address is an increase.
    zero = {"state": "FAILED", "category": "Billing", "sla": "none"}
    assert samples(text, "tickets_finished_total", **zero) == [0.0]
    assert _label_names(text, "tickets_finished_total", **zero) == _label_names(
        text, "tickets_finished_total", state="COMPLETED"
    )
    assert samples(text, "tickets_spend_limit_usd_per_hour") == [SPEND_LIMIT]
    assert samples(text, "tickets_worker_replicas_expected") == [1.0]
    assert samples(text, "tickets_review_overdue") == [0.0]
    # An unversioned worker on a server where no build is current: sent tasks.
    assert samples(text, "tickets_worker_takes_tasks", queue="tickets") == [1.0]
    assert samples(text, "tickets_worker_routing_checked_timestamp_seconds")
    assert samples(text, "tickets_open", state="AWAITING_REVIEW")
    # Tokens and dollars are what `report` adds up from the tickets themselves.
    tokens = sum(samples(text, "tickets_llm_tokens_total", type="input")) + sum(
        samples(text, "tickets_llm_tokens_total", type="output")
    )
    assert tokens == report.tokens > 0
    cost = sum(samples(text, "tickets_llm_cost_usd_sum"))
    assert cost == pytest.approx(report.cost_usd, abs=1e-6 * len(TICKETS))
    assert report.cost_usd > 0
    assert sum(samples(text, "tickets_llm_cost_usd_count")) == report.calls

    ARTIFACTS.mkdir(exist_ok=True)
    excerpt = [
        line
        for line in text.splitlines()
        if line.startswith(("tickets_", "temporal_workflow_task_schedule_to_start"))
        and "_bucket" not in line
    ]
    (ARTIFACTS / "metrics-excerpt.txt").write_text(
        f"GET {observed.metrics_url} after {len(TICKETS)} tickets on the fake openai server "
        f"({rate_limited} answered 429 first); report: {report.tokens} tokens, "
        f"${report.cost_usd:.6f}\n\n" + "\n".join(excerpt) + "\n"
    )


def _label_names(text: str, name: str, **labels: str) -> set[frozenset[str]]:
    """The label names of each sample of ``name`` whose labels include ``labels``."""
    found = set()
    for line in text.splitlines():
        head = line.rpartition(" ")[0]
        if head.startswith(name + "{") and all(f'{k}="{v}"' in head for k, v in labels.items()):
            found.add(frozenset(re.findall(r'([a-z_]+)="', head)))
    return found


async def test_prometheus_sees_the_429s_rise_and_the_rate_limit_alert(observed: Observed) -> None:
    rate_limited = observed.llm.rate_limited

    def scraped_all() -> bool:
        result = observed.prometheus.query(
            'sum(tickets_provider_failures_total{class="rate_limited"})'
        )
        return bool(result) and float(result[0]["value"][1]) == rate_limited

    await wait_until(scraped_all, timeout=30, what="Prometheus to scrape every 429")
    series = observed.prometheus.api(
        "query_range",
        query='sum(tickets_provider_failures_total{class="rate_limited"})',
        start=str(observed.started),
        end=str(time.time()),
        step="1",
    )["result"]
    values = [float(v) for _, v in series[0]["values"]]
    assert min(values) < max(values) == rate_limited, f"the counter never rose: {values}"

    def rate_limit_alert() -> dict[str, str] | None:
        for alert in observed.prometheus.alerts():
            if alert["labels"]["alertname"] == "ProviderRateLimited":
                return {"state": alert["state"], "provider": alert["labels"]["provider"]}
        return None

    # The shipped rules file, unchanged: `for: 5m` keeps it pending during the test.
    alert = await wait_until(rate_limit_alert, timeout=60, what="the ProviderRateLimited alert")
    assert alert["state"] in ("pending", "firing") and alert["provider"] == "openai"


async def test_every_dashboard_panel_query_returns_data(observed: Observed) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        await wait_until(
            lambda e=expr: observed.prometheus.query(e), timeout=30, what=f"data for {expr}"
        )


def tree_problems(spans: list[ReceivedSpan]) -> list[str]:
    ids = {s.span_id for s in spans}
    roots = [s.name for s in spans if s.parent_id is None]
    problems = [f"roots: {roots}"] if len(roots) != 1 else []
    problems += [
        f"{s.name} has no parent here" for s in spans if s.parent_id and s.parent_id not in ids
    ]
    return problems


async def test_spans_of_the_cli_and_the_worker_reach_the_receiver_as_one_trace_per_ticket(
    observed: Observed, client: Client
) -> None:
    await settled_report(client)
    views = {t["id"]: await ops.ticket_status(client, t["id"]) for t in TICKETS}

    def complete_traces() -> dict[str, list[ReceivedSpan]] | None:
        received = observed.receiver.received()
        traces = {
            ticket: [s for s in received if s.trace_id == view.trace_id]
            for ticket, view in views.items()
        }
        done = all(
            any(s.name == f"RunWorkflow:{names.TICKET_WORKFLOW}" for s in spans)
            and not tree_problems(spans)
            for spans in traces.values()
        )
        return traces if done else None

    traces = await wait_until(complete_traces, timeout=30, what="every ticket's whole trace")
    for ticket, spans in traces.items():
        services = {s.service for s in spans}
        assert services == {"ticket-cli", "ticket-worker"}, (ticket, services)
        (root,) = [s for s in spans if s.parent_id is None]
        assert (
            root.name == f"StartWorkflow:{names.TICKET_WORKFLOW}" and root.service == "ticket-cli"
        )
        chats = [s for s in spans if s.name.startswith("chat ")]
        failed = [s for s in chats if s.attributes.get("error.type") == "ProviderRateLimited"]
        answered = [s for s in chats if "error.type" not in s.attributes]
        assert len(failed) == len(answered) == 4, ticket
        assert {s.attributes["tickets.attempt"] for s in failed} == {1}
        assert {s.attributes["tickets.attempt"] for s in answered} == {2}
        for span in answered:
            assert span.attributes["gen_ai.provider.name"] == "openai"
            assert (
                span.attributes["gen_ai.response.model"] == span.attributes["gen_ai.request.model"]
            )
            assert span.attributes["gen_ai.usage.input_tokens"] == 100
            assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]
            assert span.attributes["tickets.ticket_id"] == ticket
    # The review: the CLI's own trace, linked to the ticket's.
    view = views[REVIEWED]
    (review,) = [
        s
        for s in observed.receiver.received()
        if s.name == "review" and s.attributes.get("tickets.ticket_id") == REVIEWED
    ]
    assert review.service == "ticket-cli" and review.parent_id is None
    assert review.trace_id != view.trace_id
    assert review.links == [(view.trace_id, view.trace_span_id)]
