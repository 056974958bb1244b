"""Configuration errors name the line that sets the field (`path:line: field: problem`), and a
field the file does not set is named without a line."""

from pathlib import Path

import pytest

from shared.settings import ConfigError, load_settings
from tests.support.config_files import write_config


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may pick up the repository's own config/pipeline.toml."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("[review]\nmin_confidence = 1.5", "review.min_confidence: Input should be less than"),
        ("[agents]\nsummariser = ['a:b']", "agents.summariser is not an agent"),
        ("[agents]\nresolver = ['gpt-4o']", "agents.resolver[0]: expected 'provider:model'"),
        ("[agents]\nresolver = ['nowhere:m']", "agents.resolver: unknown provider 'nowhere'"),
        ("[trimming]\nbody_tokenz = 9", "[trimming] has no setting 'body_tokenz'"),
        (
            "[agent_timeouts]\nheartbeat_seconds = 200",
            "agent_timeouts.heartbeat_seconds (200) must be below agent_timeouts."
            "start_to_close_seconds (120)",
        ),
        # Longer than an agent call's least retry window (15 minutes): past the SLA deadline,
        # one attempt and no retry (a review, 2026-12-07).
        (
            "[agent_timeouts]\nstart_to_close_seconds = 1200",
            "agent_timeouts.start_to_close_seconds (1200) must be at most 900",
        ),
        (
            "[agent_timeouts]\nqueue_wait_seconds = 80000",
            "agent_timeouts.queue_wait_seconds (80000) must be at most 900",
        ),
        ("[providers.openai]\nbase_url = 'ftp://x'", "providers.openai.base_url"),
        ("[budget]\nmax_tokens = 'many'", "budget.max_tokens: Input should be a valid integer"),
    ],
)
def test_a_bad_file_names_the_line_that_sets_the_field(
    tmp_path: Path, bad: str, problem: str
) -> None:
    # The bad setting's key is on line 8, under good settings that come first.
    path = write_config(
        tmp_path, "# ours\nmax_revision_rounds = 4\n\n[sla_hours]\nUrgent = 2\n\n" + bad
    )
    assert path.read_text().splitlines()[7] == bad.splitlines()[1]

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    assert str(caught.value).startswith(f"{path}:8: "), str(caught.value)
    assert problem in str(caught.value)


def test_a_rule_against_a_default_names_the_line_the_file_did_set(tmp_path: Path) -> None:
    # The agent timeout is the file's; the provider's timeout, which must stay under it, is the
    # default: the message names both, at the line that set the first (it named the file only,
    # as if the provider's were a key in it).
    text = (
        "[agents]\nresolver = ['openai:m']\n"
        "[agent_timeouts]\nstart_to_close_seconds = 30\nheartbeat_seconds = 10\n"
    )
    path = write_config(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    assert str(caught.value).startswith(f"{path}:4: providers.openai.timeout_seconds ("), str(
        caught.value
    )
    assert "must be below agent_timeouts.start_to_close_seconds (30)" in str(caught.value)
