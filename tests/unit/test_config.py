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


# ---- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("max_revision_rounds = = 3\n", ["not valid TOML"], id="bad-toml"),
        # A 2,980-line traceback.
        pytest.param(
            "x = " + "[" * 100_000 + "]" * 100_000 + "\n",
            ["nests arrays or tables too deeply"],
            id="nested-too-deeply",
        ),
        pytest.param(
            '[agents]\nsummariser = ["a:b"]\n',
            ["agents.summariser", "not an agent", "resolver"],
            id="unknown-agent-role",
        ),
        pytest.param(
            '[agents]\nresolver = ["gpt-4o"]\n',
            ["agents.resolver[0]", "provider:model", "'gpt-4o'"],
            id="route-without-colon",
        ),
        pytest.param(
            '[agents]\nresolver = ["openai:gpt-4o", "offline"]\n',
            ["agents.resolver[1]", "'offline'"],
            id="second-route-without-colon",
        ),
        pytest.param(
            "[agents]\nresolver = []\n", ["agents.resolver", "provider:model"], id="empty-chain"
        ),
        pytest.param(
            "[sla_hours]\nUrgent = -1\n",
            ["sla_hours.Urgent: Input should be greater than 0"],
            id="negative-sla",
        ),
        pytest.param(
            "[review]\nmin_confidence = 1.5\n",
            ["review.min_confidence", "less than or equal to 1"],
            id="confidence-above-one",
        ),
        pytest.param("max_revision_rounds = 11\n", ["max_revision_rounds"], id="too-many-rounds"),
        # An 80,000-route chain and a 1e17 output limit were taken as given.
        pytest.param(
            "[agents]\nclassifier = [" + ", ".join(['"offline:x"'] * 11) + "]\n",
            ["agents.classifier", "11 routes; a chain holds at most 10"],
            id="too-many-routes",
        ),
        pytest.param(
            "[providers.openai]\nmax_output_tokens = 100000000000000000\n",
            ["providers.openai.max_output_tokens", "less than or equal to 1000000"],
            id="output-tokens-past-any-model",
        ),
        pytest.param("colour = 'blue'\n", ["colour"], id="unknown-setting"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, text: str, fragments: list[str]
) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(path, env={})
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("env", "fragments"),
    [
        ({"TICKETS_REVIEW_MIN_CONFIDENCE": "1.5"}, ["TICKETS_REVIEW_MIN_CONFIDENCE", "1"]),
        # Named by the variable, not blamed on the file (and without pydantic's prefix).
        ({"TICKETS_SLA_HOURS_URGENT": "-2"}, ["TICKETS_SLA_HOURS_URGENT: Input should be greater"]),
        ({"TICKETS_MAX_REVISION_ROUNDS": "many"}, ["TICKETS_MAX_REVISION_ROUNDS", "integer"]),
        ({"TICKETS_AGENT_RESOLVER": "openai:b,oops"}, ["TICKETS_AGENT_RESOLVER[1]", "'oops'"]),
        ({"TICKETS_SENSITIVE_CATEGORIES": "Billing,Gossip"}, ["TICKETS_SENSITIVE_CATEGORIES"]),
        (
            {"TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "24"},
            ["TICKETS_REVIEW_FINAL_DEADLINE_HOURS: review.final_deadline_hours (24) must be"],
        ),
        ({"TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "-1"}, ["TICKETS_REVIEW_FINAL_DEADLINE_HOURS"]),
        # A typo in a variable's name was ignored without a word (the same in the file is
        # refused).
        (
            {"TICKETS_AGENT_CLASIFIER": "offline:offline-rules-v1"},
            ["TICKETS_AGENT_CLASIFIER: no such setting (known: TICKETS_AGENT_CLASSIFIER, "],
        ),
        ({"TICKETS_SLA_HOURS_CRITICAL": "1"}, ["TICKETS_SLA_HOURS_CRITICAL: no such setting"]),
        # nan fails every bound: it said "should be less than or equal to 87600".
        (
            {"TICKETS_SLA_HOURS_URGENT": "nan"},
            ["TICKETS_SLA_HOURS_URGENT: must be a finite number"],
        ),
    ],
)
def test_a_bad_environment_override_is_refused_naming_the_variable(
    env: dict[str, str], fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(path=None, env=env)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        # The SDK refused to combine its Authorization header with these, at the first call.
        (
            "http://user:s3cret@127.0.0.1:1/v1",
            "must not carry a user name or password (give credentials their own setting)",
        ),
        ("http://[::1/v1", "is not a URL (its host part cannot be read)"),
        ("http://127.0.0.1:99999/v1", "has a port that is not a number from 1 to 65535"),
        # The parser's message quoted the "port": here the password's first part.
        (
            "https://user:s3cret/x@models.example/v1",
            "has an '@' after its host part: a password holding '/' must write it %2F (and '@' "
            "%40), and an '@' that belongs in the path must be written %40",
        ),
        # These started a worker whose every call failed to connect.
        ("localhost:8000/v1", "must be an http:// or https:// URL with a host"),
        ("ftp://models.example/v1", "must be an http:// or https:// URL with a host"),
    ],
)
def test_a_provider_address_a_client_cannot_use_is_refused_without_repeating_it(
    tmp_path: Path, url: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={"OPENAI_BASE_URL": url})
    assert str(caught.value) == f"OPENAI_BASE_URL: {problem}"
    path = tmp_path / "pipeline.toml"
    path.write_text(f'[providers.openai]\nbase_url = "{url}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "providers.openai.base_url" in str(caught.value) and problem in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_tickets_config_pointing_to_a_missing_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(env={"TICKETS_CONFIG": str(missing)})
    assert "TICKETS_CONFIG" in str(caught.value)
    assert str(missing) in str(caught.value)


def test_a_config_file_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_bytes(b"max_revision_rounds = 3\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"pipeline\.toml"):
        load_pipeline_config(path, env={})


def test_a_review_setting_that_is_not_a_table_is_refused_even_with_overrides(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path, "review = 3\n")
    with pytest.raises(ConfigError, match="review"):
        load_pipeline_config(path, env={"TICKETS_REVIEW_URGENT": "true"})


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
