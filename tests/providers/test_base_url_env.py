"""Which endpoint a provider's SDK client calls, whatever the SDK would read on its own.

Given no base URL, the openai and anthropic SDKs read OPENAI_BASE_URL / ANTHROPIC_BASE_URL from
the process's environment themselves, and take an empty value as a URL. The compose file passes
every optional setting, so an unset one arrives empty: every call then failed to connect. The
project's configuration reads those variables (empty means unset) and the providers give the
SDKs an explicit endpoint.
"""

import pytest

from activities.providers.anthropic_provider import AnthropicProvider
from activities.providers.openai_provider import OpenAIProvider
from activities.providers.registry import build_providers
from shared.settings import load_settings
from tests.support.config_files import write_config

KEYS = {"OPENAI_API_KEY": "sk-test-base-url", "ANTHROPIC_API_KEY": "sk-ant-test-base-url"}


def clients(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, path=None) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # where the SDKs look, as in a container
    loaded = load_settings(path, env={**KEYS, **env})
    built = build_providers(
        loaded.pipeline, loaded.worker, env={**KEYS, **env}, polled=set(loaded.worker.providers)
    )
    return {
        name: str(p._client.base_url)  # type: ignore[attr-defined]
        for name, p in built.items()
        if isinstance(p, OpenAIProvider | AnthropicProvider)
    }


def test_an_empty_base_url_variable_leaves_each_sdk_its_own_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = clients({"OPENAI_BASE_URL": "", "ANTHROPIC_BASE_URL": ""}, monkeypatch)

    assert urls["openai"].startswith("https://api.openai.com/v1")
    assert urls["anthropic"].startswith("https://api.anthropic.com")


def test_a_base_url_variable_with_a_value_is_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    urls = clients(
        {
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/anthropic",
        },
        monkeypatch,
    )

    assert urls["openai"].startswith("http://127.0.0.1:9/v1")
    assert urls["anthropic"].startswith("http://127.0.0.1:9/anthropic")


def test_openais_variable_does_not_move_another_openai_compatible_provider(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OPENAI_BASE_URL names the endpoint of the provider called "openai", not of every provider
    # of that kind: one configured without a base URL calls OpenAI's own.
    path = write_config(
        tmp_path,
        '[providers.second]\nkind = "openai"\napi_key_env = "OPENAI_API_KEY"\n'
        'small_model = "gpt-4.1-mini"\nlarge_model = "gpt-4.1"\n',
    )
    urls = clients({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}, monkeypatch, path)

    assert urls["second"].startswith("https://api.openai.com/v1")
