"""Configuration the loader refuses: a bad file or override is named with the field, and never
echoed where it may hold a secret (split from test_config.py)."""

from pathlib import Path

import pytest

from shared.settings import ConfigError, load_pipeline_config, load_settings
from tests.support.config_files import write_config


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up the repository's own config/pipeline.toml."""
    monkeypatch.chdir(tmp_path)


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
        # Thrown away without a word (a review, 2026-12-08): every agent stayed on its default.
        pytest.param(
            '[routes]\nresolver = ["openai:gpt-4o"]\n',
            ["[routes] is not a setting", "[agents]"],
            id="routes-table",
        ),
        pytest.param("agents = false\n", ["[agents] must be a table"], id="agents-false"),
        pytest.param("agents = []\n", ["[agents] must be a table"], id="agents-list"),
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
        # Rounded to 3 decimals as every queue rate is, it was 0: the queue paused for good.
        pytest.param(
            "[providers.openai]\nadaptive_start_rate = 0.0004\n",
            ["providers.openai.adaptive_start_rate", "greater than or equal to 0.001"],
            id="start-rate-rounding-to-a-pause",
        ),
        pytest.param("colour = 'blue'\n", ["colour"], id="unknown-setting"),
        pytest.param(
            '[business_hours]\ntimezone = "Europe/Berlni"\n',
            [":2: business_hours.timezone: unknown time zone 'Europe/Berlni': give an IANA name"],
            id="unknown-time-zone",
        ),
        # Escalated at 312 hours, closed unanswered at 168: the same moment, nobody warned.
        pytest.param(
            "[business_hours]\n",
            ["review.final_deadline_hours: 168 hours is not longer than", "336 hours from a Fri"],
            id="final-deadline-inside-a-business-sla",
        ),
        # Escalated at a Thursday's close (312 hours from a Friday's), closed unanswered two hours
        # later, at night: no working time to answer it (accepted until 2026-12-07).
        pytest.param(
            "[review]\nfinal_deadline_hours = 314\n[business_hours]\n",
            ["review.final_deadline_hours: 314 hours is not longer than", "and one working day"],
            id="final-deadline-leaves-no-working-day-after-escalation",
        ),
        pytest.param(
            "[business_hours]\noffsets = []\n",
            ["business_hours.offsets: is recorded by the worker"],
            id="offsets-by-hand",
        ),
        pytest.param(
            "[review]\nfinal_deadline_hours = 600\n"
            '[business_hours]\ntiers = ["standard", "gold"]\n',
            [":4: business_hours.tiers.1: Input should be 'free', 'standard', 'premium' or"],
            id="unknown-tier",
        ),
        pytest.param(
            '[review]\nfinal_deadline_hours = 600\n[business_hours]\ntiers = ["free", "free"]\n',
            [":3: business_hours: tiers names a tier twice"],
            id="a-tier-twice",
        ),
        pytest.param(
            "[business_hours]\nopen = 17:00:00\nclose = 09:00:00\n",
            [":1: business_hours: close (09:00:00) must be after open (17:00:00)"],
            id="closes-before-it-opens",
        ),
        pytest.param(
            "[review]\nfinal_deadline_hours = 0\n[sla_hours]\nLow = 80000\n"
            '[business_hours]\ndays = ["wed"]\nopen = 10:00:00\nclose = 10:30:00\n',
            [":4: sla_hours.Low: 80000 business hours (0.5 a day on 1 day(s) a week) take more"],
            id="business-sla-past-ten-years",
        ),
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


def test_tickets_config_in_a_folder_the_worker_may_not_enter_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Path.is_file() swallows a missing file only: a root-only mount was a traceback.
    def refused(self: Path) -> bool:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "is_file", refused)
    with pytest.raises(ConfigError) as caught:
        load_pipeline_config(env={"TICKETS_CONFIG": str(tmp_path / "pipeline.toml")})
    assert "TICKETS_CONFIG points to" in str(caught.value)
    assert "cannot be read (Permission denied)" in str(caught.value)
