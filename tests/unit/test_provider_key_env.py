"""A provider's `api_key_env` names the environment variable holding its key: a key written
there instead was taken for a variable's name and printed in the worker's errors."""

from pathlib import Path

import pytest

from shared.settings import ConfigError, load_settings
from tests.support.config_files import write_config


def test_a_key_written_where_its_variables_name_goes_is_refused_without_repeating_it(
    tmp_path: Path,
) -> None:
    # Taken as a variable's name, the key was printed in the worker's errors and warnings
    # ("... but sk-proj-... is not set").
    key = "sk-proj-Abc123_secret-part"
    path = write_config(tmp_path, f'[providers.openai]\napi_key_env = "{key}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert "providers.openai.api_key_env" in str(caught.value)
    assert "not the key itself" in str(caught.value)
    assert "sk-proj" not in str(caught.value) and "secret" not in str(caught.value)
    # A variable's name, and no key at all, still load.
    for named in ("MY_OPENAI_KEY", ""):
        write_config(tmp_path, f'[providers.openai]\napi_key_env = "{named}"\n')
        assert load_settings(path, env={}).pipeline is not None
