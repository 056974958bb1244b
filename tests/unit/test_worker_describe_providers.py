"""What the worker prints about each provider when it starts: its rate (the limit configured,
the adaptive limit, the limit the provider declares, or none), and an endpoint no agent uses."""

from pathlib import Path

import pytest

from activities.providers.startup_lines import (
    describe_providers,
    key_routes_warning,
    unused_endpoint_warnings,
)
from shared.agents import AgentRole, AgentRoute
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings, default_providers
from shared.settings import load_settings

EVERY_AGENT_ON_OPENAI = PipelineConfig(
    routes={role: [AgentRoute(provider="openai", model="gpt-4.1-mini")] for role in AgentRole}
)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        pytest.param(
            {"requests_per_minute": 500},
            "500 requests/min -> 7.50 activities/s on the queue (server-enforced)",
            id="configured",
        ),
        pytest.param(
            {"adaptive_limit": True},
            "adaptive limit (learnt from its 429s, docs/rate-control.md)",
            id="adaptive",
        ),
        pytest.param(
            {},
            "the limit it declares in its answers (requests or tokens/min) x 0.9 (none until it "
            "declares one)",
            id="declared-by-default",
        ),
        pytest.param({"declared_limit": False}, "no rate limit", id="none"),
    ],
)
def test_the_worker_says_what_sets_each_providers_rate(
    settings: dict[str, object], says: str
) -> None:
    openai = default_providers()["openai"].model_copy(update=settings)
    (line,) = describe_providers(
        EVERY_AGENT_ON_OPENAI, WorkerSettings(providers={"openai": openai}), {"openai"}
    )
    assert says in line
    assert line.strip().startswith("openai")


def test_a_worker_that_does_not_poll_a_providers_queue_says_which_workers_call_it() -> None:
    (line,) = describe_providers(
        EVERY_AGENT_ON_OPENAI, WorkerSettings(providers=default_providers()), set()
    )
    assert line.split() == [
        "openai",
        "called",
        "by",
        "the",
        "workers",
        "that",
        "poll",
        "llm-openai,",
        "not",
        "this",
        "one",
    ]


def test_a_provider_polled_but_not_in_the_routes_is_described_too() -> None:
    from shared.pipeline_config import PipelineConfig

    lines = describe_providers(
        PipelineConfig(), WorkerSettings(providers=default_providers()), {"openai"}
    )
    assert [line.split()[0] for line in lines] == ["offline", "openai"]
    assert "not this one" in lines[0]
    assert "(queue llm-openai)" in lines[1]


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        # The agents ran offline without a word: a local server needs the key variable set.
        (
            {"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"},
            [
                "OPENAI_BASE_URL is set, but OPENAI_API_KEY is not, so no agent uses openai: set "
                "OPENAI_API_KEY (to any value, for a server that needs none)"
            ],
        ),
        ({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1", "OPENAI_API_KEY": "unused"}, []),
        ({"ANTHROPIC_API_KEY": "k"}, []),
        (
            {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/v1", "TICKETS_PROVIDER": "offline"},
            [
                "ANTHROPIC_BASE_URL is set, but ANTHROPIC_API_KEY is not, so no agent uses "
                "anthropic: set ANTHROPIC_API_KEY (to any value, for a server that needs none)"
            ],
        ),
    ],
)
def test_an_endpoint_set_for_a_provider_no_agent_uses_is_warned_of(
    env: dict[str, str], warned: list[str]
) -> None:
    loaded = load_settings(None, env=env)
    assert unused_endpoint_warnings(loaded.pipeline, loaded.worker, env) == warned


def test_a_provider_table_no_route_uses_is_warned_of(tmp_path: Path) -> None:
    # [providers.vllm] without an [agents] table naming it: every agent ran offline, unsaid.
    config = tmp_path / "pipeline.toml"
    config.write_text(
        '[providers.vllm]\nkind = "openai"\napi_key_env = ""\n'
        'base_url = "http://127.0.0.1:8000/v1"\nsmall_model = "m"\nlarge_model = "m"\n'
    )
    unused = load_settings(config, env={})
    named = load_settings(config, env={"TICKETS_PROVIDER": "vllm"})

    [warning] = unused_endpoint_warnings(unused.pipeline, unused.worker, {})
    assert warning.startswith("[providers.vllm] is configured, but no agent's route uses it")
    assert unused_endpoint_warnings(named.pipeline, named.worker, {}) == []


def test_a_cluster_worker_whose_routes_come_from_its_keys_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A machine of the cluster without OPENAI_API_KEY (a service missing its environment file)
    # routed every agent offline, silently: its tickets got rule-based answers, the others not.
    monkeypatch.chdir(tmp_path)  # no configuration file: routes from the keys seen
    cluster = {"TICKETS_DATABASE_URL": "postgresql://tickets@db.internal/tickets"}
    loaded = load_settings(env=cluster)
    note = key_routes_warning(loaded.routes_from_keys, loaded.pipeline, cluster)

    assert note is not None
    assert note.startswith("the routes of classifier, ")
    assert "(offline:" in note and "TICKETS_PROVIDER" in note
    # One machine (no shared database), or routes named: nothing to say.
    assert key_routes_warning(loaded.routes_from_keys, loaded.pipeline, {}) is None
    named = cluster | {"TICKETS_PROVIDER": "offline"}
    by_name = load_settings(env=named)
    assert key_routes_warning(by_name.routes_from_keys, by_name.pipeline, named) is None
