"""Loading the pipeline configuration: defaults, the TOML file, environment overrides, errors."""

from pathlib import Path

import pytest

from shared.agents import AgentRole, AgentRoute, Category, Priority
from shared.pipeline_config import OFFLINE_ROUTE, PipelineConfig
from shared.settings import ConfigError, data_dir, load_pipeline_config, load_settings
from tests.support.config_files import write_config

FULL_TOML = """\
max_revision_rounds = 4

[sla_hours]
Urgent = 2
High = 8

[review]
min_confidence = 0.75
review_urgent = false
sensitive_categories = ["Billing", "Account"]

[agents]
resolver = ["openai:gpt-4o-mini", "offline:offline-rules-v1"]
classifier = ["anthropic:claude-haiku"]
"""


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up the repository's own config/pipeline.toml."""
    monkeypatch.chdir(tmp_path)


# ---- defaults ------------------------------------------------------------------------------------


def test_without_a_file_or_environment_the_defaults_apply() -> None:
    config = load_pipeline_config(path=None, env={})
    assert config.sla_hours == {
        Priority.LOW: 72,
        Priority.MEDIUM: 24,
        Priority.HIGH: 4,
        Priority.URGENT: 1,
    }
    assert config.max_revision_rounds == 2
    assert config.review.min_confidence == 0.6
    assert config.review.review_urgent is True
    assert config.review.sensitive_categories == []
    assert config.routes == {role: [OFFLINE_ROUTE] for role in AgentRole}


def test_the_default_file_in_the_working_directory_is_picked_up(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", "max_revision_rounds = 5\n")
    assert load_pipeline_config(path=None, env={}).max_revision_rounds == 5


# ---- the file ------------------------------------------------------------------------------------


def test_a_file_sets_every_section(tmp_path: Path) -> None:
    config = load_pipeline_config(write_config(tmp_path, FULL_TOML), env={})
    assert config.max_revision_rounds == 4
    assert config.sla_hours[Priority.URGENT] == 2
    assert config.sla_hours[Priority.HIGH] == 8
    assert config.review.min_confidence == 0.75
    assert config.review.review_urgent is False
    assert config.review.sensitive_categories == [Category.BILLING, Category.ACCOUNT]
    assert config.routes[AgentRole.RESOLVER] == [
        AgentRoute(provider="openai", model="gpt-4o-mini"),
        AgentRoute(provider="offline", model="offline-rules-v1"),
    ]
    assert config.routes[AgentRole.CLASSIFIER] == [
        AgentRoute(provider="anthropic", model="claude-haiku")
    ]


def test_what_a_file_leaves_out_keeps_its_default(tmp_path: Path) -> None:
    config = load_pipeline_config(write_config(tmp_path, FULL_TOML), env={})
    assert config.sla_hours[Priority.LOW] == 72
    assert config.sla_hours[Priority.MEDIUM] == 24
    assert config.routes[AgentRole.TRIAGE] == [OFFLINE_ROUTE]
    assert config.routes[AgentRole.VALIDATOR] == [OFFLINE_ROUTE]


def test_tickets_config_names_the_file_to_load(tmp_path: Path) -> None:
    path = write_config(tmp_path, "max_revision_rounds = 7\n", name="elsewhere.toml")
    config = load_pipeline_config(env={"TICKETS_CONFIG": str(path)})
    assert config.max_revision_rounds == 7


def test_a_process_started_where_there_is_no_config_file_says_so_in_its_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A service started in another directory skipped config/pipeline.toml, and the worker's
    # start-up line said only "configuration from configuration".
    monkeypatch.chdir(tmp_path)
    source = load_settings(env={}).source
    assert source == (
        "the built-in defaults and the environment (no config/pipeline.toml under "
        f"{tmp_path}; TICKETS_CONFIG names a file)"
    )
    found = write_config(tmp_path, "max_revision_rounds = 7\n", name="elsewhere.toml")
    assert load_settings(env={"TICKETS_CONFIG": str(found)}).source == str(found)


# ---- environment overrides -----------------------------------------------------------------------


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    env = {
        "TICKETS_SLA_HOURS_URGENT": "0.5",
        "TICKETS_MAX_REVISION_ROUNDS": "1",
        "TICKETS_REVIEW_MIN_CONFIDENCE": "0.9",
        "TICKETS_REVIEW_URGENT": "true",
        "TICKETS_SENSITIVE_CATEGORIES": "Technical, Bug Report",
        "TICKETS_AGENT_RESOLVER": "openai:gpt-x,anthropic:claude-y",
    }
    config = load_pipeline_config(write_config(tmp_path, FULL_TOML), env=env)
    assert config.sla_hours[Priority.URGENT] == 0.5
    assert config.sla_hours[Priority.HIGH] == 8  # from the file, not overridden
    assert config.max_revision_rounds == 1
    assert config.review.min_confidence == 0.9
    assert config.review.review_urgent is True
    assert config.review.sensitive_categories == [Category.TECHNICAL, Category.BUG_REPORT]
    assert config.routes[AgentRole.RESOLVER] == [
        AgentRoute(provider="openai", model="gpt-x"),
        AgentRoute(provider="anthropic", model="claude-y"),
    ]
    # A role the environment does not mention keeps the file's chain.
    assert config.routes[AgentRole.CLASSIFIER] == [
        AgentRoute(provider="anthropic", model="claude-haiku")
    ]


def test_environment_overrides_apply_without_a_file() -> None:
    config = load_pipeline_config(
        path=None,
        env={
            "TICKETS_AGENT_RESOLVER": "openai:gpt-x,anthropic:claude-y",
            "TICKETS_SLA_HOURS_LOW": "100",
        },
    )
    assert config.routes[AgentRole.RESOLVER] == [
        AgentRoute(provider="openai", model="gpt-x"),
        AgentRoute(provider="anthropic", model="claude-y"),
    ]
    assert config.sla_hours[Priority.LOW] == 100


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), ("YES", True), ("on", True), ("false", False), ("0", False)],
)
def test_review_urgent_is_read_from_the_environment(value: str, expected: bool) -> None:
    config = load_pipeline_config(path=None, env={"TICKETS_REVIEW_URGENT": value})
    assert config.review.review_urgent is expected


@pytest.mark.parametrize("value", ["ture", "enabled", "2"])
def test_a_review_urgent_value_that_is_not_a_yes_or_no_is_refused_by_name(value: str) -> None:
    # Anything but a yes read as no: a typo turned the review of Urgent tickets off unnoticed.
    with pytest.raises(ConfigError, match="TICKETS_REVIEW_URGENT: Input should be a valid boolean"):
        load_pipeline_config(path=None, env={"TICKETS_REVIEW_URGENT": value})


def test_an_empty_sensitive_categories_variable_clears_the_files_list(tmp_path: Path) -> None:
    config = load_pipeline_config(
        write_config(tmp_path, FULL_TOML), env={"TICKETS_SENSITIVE_CATEGORIES": ""}
    )
    assert config.review.sensitive_categories == []


# ---- data directory ------------------------------------------------------------------------------


def test_the_data_directory_comes_from_tickets_data_dir(tmp_path: Path) -> None:
    target = tmp_path / "state"
    assert data_dir({"TICKETS_DATA_DIR": str(target)}) == target.resolve()


def test_the_data_directory_defaults_to_data_in_the_working_directory(tmp_path: Path) -> None:
    assert data_dir({}) == (tmp_path / "data").resolve()


def test_a_relative_data_directory_is_made_absolute(tmp_path: Path) -> None:
    resolved = data_dir({"TICKETS_DATA_DIR": "var/tickets"})
    assert resolved.is_absolute()
    assert resolved == (tmp_path / "var" / "tickets").resolve()


def test_the_committed_configuration_file_states_the_built_in_defaults() -> None:
    committed = Path(__file__).resolve().parents[2] / "config" / "pipeline.toml"
    assert load_pipeline_config(committed, env={}) == PipelineConfig()


def test_a_keyless_openai_compatible_server_can_be_added_and_routed_to(tmp_path: Path) -> None:
    from activities.providers.openai_provider import OpenAIProvider
    from activities.providers.registry import build_providers
    from shared.settings import load_settings

    path = write_config(
        tmp_path,
        '[providers.ollama]\nkind = "openai"\napi_key_env = ""\n'
        'base_url = "http://localhost:11434/v1"\nsmall_model = "llama3.1:8b"\n'
        'large_model = "llama3.1:70b"\n\n'
        '[agents]\nclassifier = ["ollama:llama3.1:8b", "offline:offline-rules-v1"]\n',
    )
    loaded = load_settings(path, env={})
    assert loaded.pipeline.routes[AgentRole.CLASSIFIER] == [
        AgentRoute(provider="ollama", model="llama3.1:8b"),
        AgentRoute(provider="offline", model="offline-rules-v1"),
    ]
    providers = build_providers(loaded.pipeline, loaded.worker, env={})
    assert isinstance(providers["ollama"], OpenAIProvider)


def test_a_worker_that_polls_no_provider_queue_needs_no_provider_key() -> None:
    from activities.providers.errors import ProviderCheckError
    from activities.providers.registry import build_providers
    from shared.settings import load_settings

    loaded = load_settings(None, env={"TICKETS_PROVIDER": "openai"})
    # The workflows' worker (--queues tickets,delivery) builds only the offline rules.
    assert list(build_providers(loaded.pipeline, loaded.worker, env={}, polled=set())) == [
        "offline"
    ]
    # The worker that polls llm-openai, or every queue (the default), needs the key.
    for polled in ({"openai"}, None):
        with pytest.raises(ProviderCheckError, match="OPENAI_API_KEY is not set"):
            build_providers(loaded.pipeline, loaded.worker, env={}, polled=polled)


def test_with_an_api_key_set_every_agent_routes_to_that_provider_with_the_other_as_fallback() -> (
    None
):
    from shared.settings import load_settings

    both = load_settings(None, env={"OPENAI_API_KEY": "k1", "ANTHROPIC_API_KEY": "k2"}).pipeline
    assert [r.provider for r in both.routes[AgentRole.RESOLVER]] == ["openai", "anthropic"]
    assert both.routes[AgentRole.RESOLVER][0].model == "gpt-4.1"
    assert both.routes[AgentRole.CLASSIFIER][0].model == "gpt-4.1-mini"
    only = load_settings(None, env={"ANTHROPIC_API_KEY": "k2"}).pipeline
    assert [r.provider for r in only.routes[AgentRole.TRIAGE]] == ["anthropic"]
    forced = load_settings(None, env={"OPENAI_API_KEY": "k1", "TICKETS_PROVIDER": "offline"})
    assert forced.pipeline == PipelineConfig()
