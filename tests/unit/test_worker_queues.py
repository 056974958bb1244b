"""`python -m worker --queues ...`: which queues a worker may be given, and which providers it
builds for them (docs/deploy.md, "Workers for the workflows, workers for the agent calls")."""

import pytest

from activities.providers.errors import ProviderCheckError
from activities.providers.registry import build_providers
from shared.settings import ConfigError, load_settings
from task_queue_workers import check_queues, polled_providers


def test_a_queue_no_worker_serves_is_refused_with_the_known_ones() -> None:
    loaded = load_settings(None, env={"TICKETS_PROVIDER": "openai"})
    with pytest.raises(ConfigError) as refused:
        check_queues(["llm-opneai"], loaded)
    assert str(refused.value) == (
        "--queues: unknown task queue 'llm-opneai' (known: tickets, delivery, llm-offline, "
        "llm-openai, llm-anthropic)"
    )


def test_a_workflows_worker_without_keys_must_be_told_the_routes() -> None:
    # No key and no TICKETS_PROVIDER: its own routes would be offline, a queue nobody polls.
    keyless = load_settings(None, env={})
    with pytest.raises(ConfigError, match="not the calls to offline, and its agents' routes"):
        check_queues(["tickets", "delivery"], keyless)
    # With a key its routes would be that provider's; other workers, other keys: refused too.
    with_key = load_settings(None, env={"OPENAI_API_KEY": "sk-0123456789"})
    with pytest.raises(ConfigError, match="TICKETS_PROVIDER, TICKETS_AGENT_<ROLE> or"):
        check_queues(["tickets", "delivery"], with_key)


@pytest.mark.parametrize(
    "env",
    [
        {"TICKETS_PROVIDER": "openai"},
        {"TICKETS_PROVIDER": "offline"},
    ],
)
def test_named_routes_let_a_workflows_worker_leave_the_calls_to_others(
    env: dict[str, str],
) -> None:
    check_queues(["tickets", "delivery"], load_settings(None, env=env))


def test_every_agent_named_one_by_one_counts_as_named() -> None:
    from shared.agents import AgentRole

    env = {f"TICKETS_AGENT_{role.name}": "openai:gpt-4.1-mini" for role in AgentRole}
    loaded = load_settings(None, env=env)
    assert loaded.routes_from_keys == ()
    check_queues(["tickets", "delivery"], loaded)
    # One agent left to the keys is enough to refuse.
    del env["TICKETS_AGENT_CLASSIFIER"]
    with pytest.raises(ConfigError, match="--queues: this worker runs the workflows"):
        check_queues(["tickets"], load_settings(None, env=env))


def test_a_worker_that_polls_its_calls_or_runs_no_workflows_needs_no_named_routes() -> None:
    keyless = load_settings(None, env={})
    check_queues(["tickets", "delivery", "llm-offline"], keyless)
    check_queues(["llm-openai"], keyless)  # its key is checked when its provider is built


def test_an_agents_worker_needs_the_key_of_the_queue_it_polls_whatever_its_routes() -> None:
    keyless = load_settings(None, env={})  # routes: offline
    with pytest.raises(ProviderCheckError) as refused:
        build_providers(
            keyless.pipeline, keyless.worker, env={}, polled=polled_providers(["llm-openai"])
        )
    assert str(refused.value) == (
        "the worker polls openai's queue (llm-openai), but OPENAI_API_KEY is not set"
    )
    built = build_providers(
        keyless.pipeline,
        keyless.worker,
        env={"OPENAI_API_KEY": "sk-0123456789"},
        polled=polled_providers(["llm-openai"]),
    )
    assert sorted(built) == ["offline", "openai"]


def test_a_queue_given_twice_is_refused_before_the_worker_starts() -> None:
    # A review (2026-12-07): --check-config said it could start; the SDK then refused the
    # second worker on the same queue after connecting, with a traceback.
    with pytest.raises(ConfigError, match=r"--queues: 'llm-offline', 'tickets' given twice"):
        check_queues(
            ["tickets", "tickets", "llm-offline", "llm-offline"], load_settings(None, env={})
        )


@pytest.mark.parametrize("given", ["", ",", " ", " , "])
def test_a_queues_option_naming_no_queue_is_refused(
    given: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unset template variable (--queues "$QUEUES") polled every queue: an agent-only
    deployment ran workflows without a word."""
    import worker

    with pytest.raises(SystemExit) as exited:
        worker.main(["--queues", given, "--check-config"])
    assert exited.value.code == 2
    assert "--queues names no queue" in capsys.readouterr().err
