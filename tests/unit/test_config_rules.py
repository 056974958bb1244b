"""Rules across the pipeline configuration's settings: the provider and channel timeouts against
the attempt's, the final review deadline against the SLAs, prices for a cost budget, the
orchestrator's fallback route, the [trimming] table, numbers that are not finite; each refusal
names the file's key or the environment variable."""

from pathlib import Path

import pytest

from shared.settings import ConfigError, load_pipeline_config
from tests.support.config_files import write_config


def test_a_provider_timeout_not_below_the_attempt_timeout_is_refused(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "[agent_timeouts]\nstart_to_close_seconds = 60\n\n"
        "[providers.openai]\ntimeout_seconds = 60\n\n"
        '[agents]\nresolver = ["openai:gpt-4.1"]\n',
    )
    with pytest.raises(ConfigError, match=r"timeout_seconds \(60\) must be below"):
        load_pipeline_config(path, env={})


def test_the_final_review_deadline_defaults_to_a_week_and_zero_turns_it_off() -> None:
    assert load_pipeline_config(path=None, env={}).review.final_deadline_hours == 168
    env = {"TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "0"}
    assert load_pipeline_config(path=None, env=env).review.final_deadline_hours == 0


def test_a_cost_budget_with_an_unpriced_model_is_refused_naming_the_models(
    tmp_path: Path,
) -> None:
    path = write_config(
        tmp_path,
        '[budget]\nmax_cost_usd = 0.5\n\n[agents]\nresolver = ["openai:my-finetune", '
        '"anthropic:claude-haiku-4-5"]\ntriage = ["openai:other-model"]\n',
    )
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(path, env={})
    message = str(refused.value)
    assert message.startswith(f"{path}:2: budget.max_cost_usd sets a cost budget")
    assert "no price is configured for my-finetune, other-model:" in message
    assert "claude-haiku-4-5" not in message  # that one has a price


def test_an_unpriced_model_is_allowed_without_a_cost_budget_and_once_it_has_a_price(
    tmp_path: Path,
) -> None:
    routes = '[agents]\nresolver = ["openai:my-finetune"]\n'
    assert load_pipeline_config(write_config(tmp_path, routes, "a.toml"), env={})
    priced = (
        '[budget]\nmax_cost_usd = 0.5\n\n[prices."my-finetune"]\ninput = 1.0\noutput = 2.0\n\n'
        + routes
    )
    config = load_pipeline_config(write_config(tmp_path, priced, "b.toml"), env={})
    assert config.budget.max_cost_usd == 0.5


def test_the_orchestrators_fallback_route_is_checked_like_every_other_route(
    tmp_path: Path,
) -> None:
    # A sub-task's simpler attempt goes to this route: an unknown provider loaded without a
    # word, its queue was polled by no worker and its key checked by none, so the attempt waited
    # on a queue nobody served.
    from activities.providers.errors import ProviderCheckError
    from activities.providers.registry import build_providers, providers_in_use
    from shared.settings import load_settings

    unknown = write_config(
        tmp_path, '[orchestration]\nfallback_route = {provider = "nope", model = "x"}\n'
    )
    with pytest.raises(
        ConfigError, match=r"orchestration\.fallback_route: unknown provider 'nope'"
    ):
        load_pipeline_config(unknown, env={})

    anthropic = write_config(
        tmp_path,
        '[orchestration]\nfallback_route = {provider = "anthropic", model = "my-model"}\n'
        "[budget]\nmax_cost_usd = 0.5\n",
    )
    with pytest.raises(ConfigError, match="no price is configured for my-model"):
        load_pipeline_config(anthropic, env={})
    priced = write_config(
        tmp_path,
        '[orchestration]\nfallback_route = {provider = "anthropic", model = "claude-haiku-4-5"}\n',
    )
    loaded = load_settings(priced, env={})
    assert "anthropic" in providers_in_use(loaded.pipeline)  # its queue is polled
    with pytest.raises(ProviderCheckError, match="orchestrator's fallback agent"):
        build_providers(loaded.pipeline, loaded.worker, env={})  # its key is checked


def test_an_unknown_trimming_setting_is_refused_like_any_other_tables(tmp_path: Path) -> None:
    # A typo (body_token) loaded without a word and kept the default.
    path = write_config(tmp_path, "[trimming]\nbody_token = 3000\n")
    with pytest.raises(ConfigError, match=r"\[trimming\] has no setting 'body_token'"):
        load_pipeline_config(path, env={})
    path = write_config(tmp_path, "[trimming]\nbody_tokens = 50\n")
    with pytest.raises(ConfigError, match=r"trimming\.body_tokens: Input should be greater"):
        load_pipeline_config(path, env={})


@pytest.mark.parametrize(
    ("env", "said"),
    [
        # inf passed every bound and was written null into each ticket's configuration
        # snapshot, which then did not read back.
        (
            {"TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "inf"},
            "TICKETS_REVIEW_FINAL_DEADLINE_HOURS: must be a finite number",
        ),
        (
            {"TICKETS_SLA_HOURS_LOW": "inf", "TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "0"},
            "TICKETS_SLA_HOURS_LOW: must be a finite number",
        ),
        ({"TICKETS_BUDGET_MAX_TOKENS": "5", "TICKETS_BUDGET_MAX_COST_USD": "inf"}, "MAX_COST_USD"),
        # A rule across fields names the variable that broke it (it blamed the file).
        ({"TICKETS_SLA_HOURS_LOW": "200"}, "TICKETS_SLA_HOURS_LOW: review.final_deadline_hours"),
        # Past the calendar ("never" meant): every ticket's workflow task failed in a loop.
        (
            {"TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "1e9"},
            "TICKETS_REVIEW_FINAL_DEADLINE_HOURS: Input should be less than or equal to 87600",
        ),
        (
            {"TICKETS_SLA_HOURS_LOW": "1e9", "TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "0"},
            "TICKETS_SLA_HOURS_LOW: Input should be less than or equal to 87600",
        ),
    ],
)
def test_numbers_that_are_not_finite_or_break_a_rule_are_refused_naming_the_variable(
    env: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(path=None, env=env)
    assert said in str(refused.value)


def test_a_dated_snapshot_is_priced_as_its_alias_unless_it_has_its_own_price(
    tmp_path: Path,
) -> None:
    # A pinned snapshot (gpt-4.1-mini-2025-04-14) was reported as costing nothing.
    from shared.settings import alias_priced_models, load_settings, unpriced_models

    routes = (
        '[agents]\nclassifier = ["openai:gpt-4.1-mini-2025-04-14"]\n'
        'resolver = ["anthropic:claude-sonnet-4-5-20250929"]\ntriage = ["openai:gpt-4.1-x"]\n'
    )
    own = '[prices."gpt-4.1-mini-2025-04-14"]\ninput = 9.0\noutput = 9.0\n\n'
    loaded = load_settings(write_config(tmp_path, routes, "a.toml"), env={})
    priced = load_settings(write_config(tmp_path, own + routes, "b.toml"), env={})

    worker = loaded.worker
    assert worker.price("gpt-4.1-mini-2025-04-14") == worker.price("gpt-4.1-mini") is not None
    assert worker.price("claude-sonnet-4-5-20250929") == worker.price("claude-sonnet-4-5")
    assert unpriced_models(loaded.pipeline, worker) == ["gpt-4.1-x"]  # not a dated snapshot
    # Said at start: an older snapshot can cost more than its alias does now.
    assert alias_priced_models(loaded.pipeline, worker) == [
        "claude-sonnet-4-5-20250929",
        "gpt-4.1-mini-2025-04-14",
    ]
    assert alias_priced_models(priced.pipeline, priced.worker) == ["claude-sonnet-4-5-20250929"]
    assert priced.worker.price("gpt-4.1-mini-2025-04-14").input == 9.0  # type: ignore[union-attr]


def test_a_price_keyed_like_a_route_is_refused_naming_the_model_s_key(tmp_path: Path) -> None:
    # [prices."openai:gpt-4.1-mini"] was accepted and never matched: prices go by model name.
    path = write_config(
        tmp_path,
        '[prices."openai:gpt-4.1-mini"]\ninput = 1.0\noutput = 2.0\n\n'
        '[agents]\nclassifier = ["openai:gpt-4.1-mini"]\n',
    )
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(path, env={})
    assert str(refused.value) == (
        f"{path}:1: [prices] is keyed by the model's name: write "
        '"gpt-4.1-mini", not "openai:gpt-4.1-mini"'
    )
    # An Ollama tag is a model's name, not a route, even where a provider has its family's name.
    tagged = write_config(
        tmp_path,
        '[providers.mistral]\nkind = "openai"\napi_key_env = "MISTRAL_API_KEY"\n'
        'base_url = "http://127.0.0.1:9/v1"\nsmall_model = "m"\nlarge_model = "m"\n\n'
        '[providers.ollama]\nkind = "openai"\napi_key_env = ""\n'
        'base_url = "http://127.0.0.1:11434/v1"\nsmall_model = "m"\nlarge_model = "m"\n\n'
        '[prices."mistral:7b"]\ninput = 0.0\noutput = 0.0\n\n'
        '[agents]\nclassifier = ["ollama:mistral:7b"]\n',
        "tagged.toml",
    )
    assert load_pipeline_config(tagged, env={})


@pytest.mark.parametrize("field", ["input", "output", "cached_input", "cache_write"])
@pytest.mark.parametrize("value", ["inf", "1e400", "nan"])
def test_a_price_that_is_not_a_finite_number_is_refused_naming_its_line(
    tmp_path: Path, field: str, value: str
) -> None:
    # It loaded: each call's cost came out nan, written null into its usage, which the workflow
    # could not read: every ticket on that model failed its workflow task over and over.
    others = "".join(f"{f} = 1.0\n" for f in ("input", "output") if f != field)
    path = write_config(tmp_path, f'[prices."gpt-4.1-mini"]\n{field} = {value}\n{others}')
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(path, env={})
    assert str(refused.value) == f"{path}:2: prices.gpt-4.1-mini.{field}: must be a finite number"


def test_a_price_beyond_any_model_s_is_refused_naming_its_line(tmp_path: Path) -> None:
    # Finite, but a call's cost overflowed to inf and then nan, as a price of inf did.
    path = write_config(tmp_path, '[prices."gpt-4.1-mini"]\ninput = 1.0\noutput = 1.7e308\n')
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(path, env={})
    assert str(refused.value).startswith(f"{path}:3: prices.gpt-4.1-mini.output: 1.7e+308 USD")
    assert "at most 100,000" in str(refused.value)


def test_a_trimming_value_out_of_bounds_is_named_at_its_line(tmp_path: Path) -> None:
    # Named as written ([trimming] body_tokens, the model's trim_body_tokens), but with no line.
    path = write_config(tmp_path, "[trimming]\nbody_tokens = 5\n")
    with pytest.raises(ConfigError) as refused:
        load_pipeline_config(path, env={})
    assert str(refused.value).startswith(f"{path}:2: trimming.body_tokens: "), str(refused.value)
