"""A provider's API key as the worker reads it from its variable: the line break or spaces a
secret made with `echo` carries are dropped, anything else that is no part of a key stops the
worker naming the variable (never the key)."""

import pytest


def test_a_key_with_a_line_break_around_it_is_used_and_one_inside_it_is_refused_by_name() -> None:
    # A secret made with `echo` ends in a line break: the openai SDK died on it with a traceback
    # about header characters, and the anthropic one failed every call as a connection error.
    from activities.providers.errors import ProviderCheckError
    from activities.providers.registry import build_providers
    from shared.settings import load_settings

    loaded = load_settings(None, env={"TICKETS_PROVIDER": "openai"})
    providers = build_providers(
        loaded.pipeline, loaded.worker, env={"OPENAI_API_KEY": " sk-test-1234567\n"}
    )
    assert providers["openai"]._client.api_key == "sk-test-1234567"  # type: ignore[attr-defined]
    for bad in ("sk-test-12\n34567", "sk-test 1234567", "\n \n"):
        with pytest.raises(ProviderCheckError) as refused:
            build_providers(loaded.pipeline, loaded.worker, env={"OPENAI_API_KEY": bad})
        said = str(refused.value)
        assert said.startswith("OPENAI_API_KEY holds ") and "sk-test" not in said


def test_a_key_with_a_character_beyond_ascii_is_refused_by_name() -> None:
    # A curly quote pasted with the key failed every request on an encoding error instead.
    from activities.providers.errors import ProviderCheckError
    from activities.providers.registry import build_providers
    from shared.settings import load_settings

    loaded = load_settings(None, env={"TICKETS_PROVIDER": "openai"})
    with pytest.raises(ProviderCheckError, match=r"OPENAI_API_KEY holds .* non-ASCII") as refused:
        build_providers(loaded.pipeline, loaded.worker, env={"OPENAI_API_KEY": "sk-test\u201d"})
    assert "sk-test" not in str(refused.value)
