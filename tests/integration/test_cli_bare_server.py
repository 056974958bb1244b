"""The command line against a bare `temporal server start-dev` (no ticket search attributes, no
worker), and with configuration it cannot use: one sentence each, never a stack trace, never a
wait that cannot end. (More configuration mistakes, in-process: tests/unit/test_cli_errors.py.)"""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from starter.embedded import EmbeddedServer
from tests.support.processes import PROJECT_ROOT, environment, free_port, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """What `temporal server start-dev` gives: no search attributes registered, no worker."""
    server = EmbeddedServer(
        tmp_path_factory.mktemp("bare"),
        "127.0.0.1",
        free_port(),
        ui=False,
        register_search_attributes=False,
    )
    asyncio.run(server.start())
    try:
        yield server
    finally:
        asyncio.run(server.stop())


def test_submit_registers_the_search_attributes_and_says_at_once_that_no_worker_runs(
    bare_server: EmbeddedServer, tmp_path: Path
) -> None:
    env = environment(bare_server.address, tmp_path)

    # The default --wait timeout is 300 s; run_cli gives up (failing the test) after 100 s.
    waited = run_cli(env, "submit", "--id", "BARE-1", "--subject", "Hi", "--body", "Help me.",
                     "--wait")  # fmt: skip

    assert waited.code == 1, waited.output
    assert "submitted  BARE-1" in waited.stdout
    warning, error = waited.stderr.strip().split("\n", 1)
    # This test's environment has no key ring: the ticket's text went out readable, and it says so.
    assert warning.startswith("warning: payload encryption OFF: ticket text is stored readable")
    assert error == (
        "error: no worker is polling the tickets task queue, so 1 ticket(s) wait on the server "
        "until one starts: run `python -m worker` against this server and namespace"
    )
    # The ticket search attributes exist now: a state filter (which needs them) works.
    listed = run_cli(env, "list", "--state", "NEW", "--json")
    assert listed.code == 0, listed.output
    assert [t["ticket_id"] for t in json.loads(listed.stdout)] == ["BARE-1"]


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["plan", "What is the refund policy?", "--wait"], "the plan"),
        (["swarm", str(PROJECT_ROOT / "samples" / "reviews.jsonl")], "the swarm"),
        (["batch", str(PROJECT_ROOT / "samples" / "tickets.jsonl"), "--wait"], "the batch"),
    ],
)
def test_a_fan_out_run_that_would_wait_says_at_once_that_no_worker_runs(
    bare_server: EmbeddedServer, tmp_path: Path, command: list[str], what: str
) -> None:
    # They sat at 0/? for minutes, saying nothing, where `submit --wait` says this at once.
    env = environment(bare_server.address, tmp_path)

    waited = run_cli(env, *command)

    assert waited.code == 1, waited.output
    assert waited.stderr.strip().endswith(
        f"error: no worker is polling the tickets task queue, so {what} would wait on the "
        "server until one starts: run `python -m worker` against this server and namespace"
    ), waited.output


def test_a_batch_submitted_again_while_it_runs_says_it_started_nothing(
    bare_server: EmbeddedServer, tmp_path: Path
) -> None:
    # The second said "started batch-... with 2 ticket(s)", as if a second batch were under way.
    env = environment(bare_server.address, tmp_path)
    tickets = tmp_path / "two.jsonl"
    tickets.write_text(
        '{"ticket_id": "BARE-B1", "subject": "Hi", "body": "Help me."}\n'
        '{"ticket_id": "BARE-B2", "subject": "Hi", "body": "Help me too."}\n'
    )

    first = run_cli(env, "batch", str(tickets), "--id", "batch-bare-again")
    again = run_cli(env, "batch", str(tickets), "--id", "batch-bare-again")
    as_json = run_cli(env, "batch", str(tickets), "--id", "batch-bare-again", "--json")

    assert first.code == 0 and first.stdout.strip() == (
        "started batch-bare-again with 2 ticket(s)"
    ), first.output
    assert again.code == 0 and again.stdout.strip() == "batch-bare-again", again.output
    assert again.stderr.strip().endswith(
        "batch-bare-again was already running these 2 ticket(s); nothing new was started: the "
        "same command with --wait waits for it"
    ), again.output
    assert as_json.code == 0, as_json.output
    assert json.loads(as_json.stdout)["started"] is False


@pytest.mark.parametrize(
    ("variables", "sentence_start"),
    [
        pytest.param(
            {"TEMPORAL_CONFIG_FILE": "{tmp}/temporal.toml"},
            "error: configuration error: the Temporal connection configuration cannot be used: "
            "{tmp}/temporal.toml: Configuration loading error: TOML parse error",
            id="temporal-config-file-not-toml",
        ),
    ],
)
def test_configuration_the_client_cannot_use_is_one_sentence(
    bare_server: EmbeddedServer, tmp_path: Path, variables: dict[str, str], sentence_start: str
) -> None:
    (tmp_path / "temporal.toml").write_text("this is [not toml\n")
    filled = {k: v.format(tmp=tmp_path) for k, v in variables.items()}
    env = environment(bare_server.address, tmp_path, **filled)

    result = run_cli(env, "status", "BARE-1")

    assert result.code == 1
    assert result.stderr.startswith(sentence_start.format(tmp=tmp_path)), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
