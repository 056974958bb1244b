"""Providers with the real worker process and the real dev server (no internet: a fake LLM)."""

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared.temporal_client import connect, connection_settings
from shared.view import TicketView
from starter.embedded import EmbeddedServer
from starter.worker_process import WorkerProcess
from tests.integration.conftest import Stack
from tests.support.fake_llm import FakeLLMServer, Reply, good_answers
from tests.support.llm_pipeline import OPENAI_KEY, llm_pipeline, llm_setup
from tests.support.processes import PROJECT_ROOT, environment, free_port, run_cli
from tests.support.tickets import make_ticket, start_ticket

pytestmark = pytest.mark.integration


def start_worker(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(env: dict[str, str], *args: str) -> str:
    """What a worker that refuses to start says (it exits 2)."""
    result = start_worker(env, *args)
    assert result.returncode == 2, result.stderr
    return result.stderr.strip()


def test_a_worker_without_the_key_its_agents_need_stops_and_names_the_variable(
    tmp_path: Path,
) -> None:
    env = environment("127.0.0.1:1", tmp_path, TICKETS_PROVIDER="openai")
    assert refused(env) == (
        "worker: configuration error: the classifier, triage, resolver, validator, planner, "
        "worker, synthesizer, insights agent(s) use openai, but OPENAI_API_KEY is not set"
    )


def test_a_worker_with_no_temporal_to_reach_says_so_in_one_sentence(tmp_path: Path) -> None:
    """It printed the SDK's nested transport error (tonic::transport::Error(Transport, ...))."""
    address = f"127.0.0.1:{free_port()}"
    result = start_worker(environment(address, tmp_path))
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"worker: cannot reach Temporal at {address}, namespace default: connection refused. "
        "Start one (`make run RUN_ARGS=--keep-running` does), or set TEMPORAL_ADDRESS."
    )


def test_a_worker_behind_a_socks_proxy_it_cannot_speak_stops_and_says_what_it_needs(
    tmp_path: Path,
) -> None:
    env = environment(
        "127.0.0.1:1",
        tmp_path,
        TICKETS_PROVIDER="openai",
        OPENAI_API_KEY="sk-test-secret-123456",
        ALL_PROXY="socks5://user:proxy-secret@127.0.0.1:1080",
    )
    assert refused(env) == (
        "worker: configuration error: openai: the environment names a SOCKS proxy (ALL_PROXY, "
        "HTTPS_PROXY or HTTP_PROXY), which the providers reach through httpx2's socks extra: "
        "install 'httpx2[socks]', or name an HTTP proxy"
    )


def test_a_workflows_worker_that_would_route_by_its_own_keys_refuses_to_start(
    tmp_path: Path,
) -> None:
    env = environment("127.0.0.1:1", tmp_path)
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        env.pop(key, None)
    assert refused(env, "--queues", "tickets,delivery").startswith(
        "worker: configuration error: --queues: this worker runs the workflows but not the "
        "calls to offline"
    )


def test_a_worker_with_a_cost_budget_and_an_unpriced_model_refuses_to_start(
    tmp_path: Path,
) -> None:
    env = environment(
        "127.0.0.1:1",
        tmp_path,
        OPENAI_API_KEY="sk-unused-0123456789",
        TICKETS_BUDGET_MAX_COST_USD="0.25",
        TICKETS_AGENT_RESOLVER="openai:my-finetune",
    )
    assert refused(env) == (
        "worker: configuration error: TICKETS_BUDGET_MAX_COST_USD sets a cost budget, but no "
        "price is configured for my-finetune: add them to [prices] (USD per million tokens) or "
        "remove the cost budget"
    )


def test_a_worker_whose_key_is_rejected_says_so_once_and_never_prints_the_key(
    tmp_path: Path,
) -> None:
    key = "sk-rejected-0123456789abcdef"
    with FakeLLMServer() as fake:
        env = environment(
            "127.0.0.1:1", tmp_path, OPENAI_API_KEY=key, OPENAI_BASE_URL=fake.openai_base_url
        )
        result = start_worker(env)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "worker: openai: the API key in OPENAI_API_KEY was rejected (401)"
    )
    assert key not in result.stdout + result.stderr
    assert [r.path for r in fake.requests] == ["/v1/models"]


def test_a_worker_names_a_route_model_its_provider_does_not_list(tmp_path: Path) -> None:
    """A mistyped model was found only by the first ticket's call."""
    with FakeLLMServer() as fake:
        env = environment(
            "127.0.0.1:1",
            tmp_path,
            OPENAI_API_KEY=OPENAI_KEY,
            OPENAI_BASE_URL=fake.openai_base_url,
            TICKETS_AGENT_CLASSIFIER="openai:gpt-4.1-mnii",
        )
        result = start_worker(env)
    assert result.returncode == 1, result.stderr  # no Temporal at 127.0.0.1:1, after the check
    warnings = [line for line in result.stderr.splitlines() if "is not among" in line]
    assert warnings == [
        "worker: warning: openai: gpt-4.1-mnii (did you mean gpt-4.1-mini?) is not among the "
        "7 model(s) it lists for this key: every call to it will fail unless it takes names it "
        "does not list"
    ]


async def test_retry_after_from_a_rate_limited_provider_is_honoured_on_a_real_server(
    stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))
    queue = f"tickets-{uuid.uuid4().hex[:8]}"
    with FakeLLMServer() as fake, caplog.at_level(logging.DEBUG, logger="temporalio.activity"):
        fake.responder = good_answers
        fake.push(Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "2"}))
        async with llm_pipeline(client, queue, tmp_path, llm_setup(fake)):
            handle = await start_ticket(client, queue, make_ticket())
            result: TicketView = await handle.result()
    first, second = fake.calls("Classification")
    # The retry policy alone would retry after 1 s; the provider asked for 2.
    assert second.at - first.at >= 1.9
    assert result.state == "COMPLETED"
    assert OPENAI_KEY not in (await handle.fetch_history()).to_json()
    # A 429 is benign: the SDK logs the failed attempt at DEBUG, not as a warning with its
    # traceback (a busy provider would fill the worker's log with them).
    failed = [
        r for r in caplog.records if r.getMessage().startswith("Completing activity as failed")
    ]
    assert [r.levelno for r in failed] == [logging.DEBUG]


def test_workflows_and_agent_calls_run_in_two_workers_and_only_the_agents_hold_the_key(
    tmp_path: Path,
) -> None:
    """The topology docs/deploy.md describes: one worker for the workflows (`--queues
    tickets,delivery`), started without the provider's key, and one for the provider's queue.
    A ticket goes through both; the first never calls the provider and says so."""
    server = EmbeddedServer(tmp_path, "127.0.0.1", free_port(), ui=False)
    asyncio.run(server.start())
    try:
        with FakeLLMServer() as fake:
            fake.responder = good_answers
            env = environment(
                server.address,
                tmp_path,
                TICKETS_PROVIDER="openai",
                OPENAI_BASE_URL=fake.openai_base_url,
            )
            for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):  # none from the shell either
                env.pop(key, None)
            workflows = WorkerProcess(tmp_path, server.address, env, ["tickets", "delivery"])
            agents = WorkerProcess(
                tmp_path, server.address, {**env, "OPENAI_API_KEY": OPENAI_KEY}, ["llm-openai"]
            )
            try:
                asyncio.run(workflows.start())
                said = workflows.output()
                asyncio.run(agents.start())
                agents_said = agents.output()
                submitted = run_cli(
                    env,
                    *("submit", "--id", "SPLIT-1", "--subject", "Refund"),
                    *("--body", "I was charged twice for my order.", "--wait", "--json"),
                )
                # The provider refuses the next request (not retried, no other route): the
                # ticket fails, and `submit --wait` must not exit 0 for it.
                fake.push(Reply(status=400, error_type="invalid_request_error"))
                failing = run_cli(
                    env,
                    *("submit", "--id", "SPLIT-2", "--subject", "Refund"),
                    *("--body", "I was charged twice again.", "--wait"),
                )
                # Submitted again, it starts again: --wait waits for the new run (it took the
                # failed run, still listed at rest, for the ticket and returned at once).
                again = run_cli(
                    env,
                    *("submit", "--id", "SPLIT-2", "--subject", "Refund"),
                    *("--body", "I was charged twice again.", "--wait", "--json"),
                )
                # A batch too: it exited 0 with its ticket FAILED.
                fake.push(Reply(status=400, error_type="invalid_request_error"))
                batch_file = tmp_path / "batch.jsonl"
                batch_file.write_text(
                    json.dumps({"id": "SPLIT-3", "subject": "Refund", "body": "Charged twice."})
                    + "\n"
                )
                batch = run_cli(env, "batch", str(batch_file), "--wait", "--json")
            finally:
                asyncio.run(agents.stop())
                asyncio.run(workflows.stop())
    finally:
        asyncio.run(server.stop())
    assert submitted.code == 0, submitted.output
    assert json.loads(submitted.stdout)["tickets"][0]["state"] == "COMPLETED"
    assert json.loads(submitted.stdout)["failed"] == []
    assert failing.code == 3, failing.output
    assert "FAILED" in failing.stdout
    assert "1 ticket(s) failed (the reason is in the table; " in failing.stderr
    assert failing.stderr.rstrip().endswith("for the whole ticket): SPLIT-2"), failing.stderr
    assert again.code == 0, again.output
    assert [t["state"] for t in json.loads(again.stdout)["tickets"]] == ["COMPLETED"]
    assert batch.code == 3, batch.output
    assert json.loads(batch.stdout)["failed"] == 1
    assert "1 ticket(s) of the batch ended without an answer sent (the counts above say how)" in (
        batch.stderr
    )
    assert len(fake.calls()) >= 4  # classifier, triage, resolver, validator
    assert "worker: polling tickets, delivery;" in said
    assert "openai     called by the workers that poll llm-openai, not this one" in said
    # Delivery settings from the worker that delivers, not from the one that only calls models.
    assert "worker: delivery: ledger by default" in said
    assert "delivery:" not in agents_said, agents_said
    assert "worker: traces: not exported" in said and "worker: traces: not exported" in agents_said
