"""The provider's x-should-retry header decides over the status code, read from real responses
by the real openai and anthropic SDKs."""

import pytest

from activities.agent_specs import CLASSIFIER
from tests.providers.conftest import MODELS, MakeProvider
from tests.providers.helpers import classify_request, raised
from tests.support.fake_llm import FakeLLMServer, Reply


@pytest.mark.parametrize(
    ("status", "header", "non_retryable"),
    [
        pytest.param(503, "false", True, id="503-not-to-be-retried"),
        pytest.param(400, "true", False, id="400-to-be-retried"),
        pytest.param(503, None, False, id="503-without-header"),
    ],
)
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_x_should_retry_decides_whether_temporal_retries(
    fake: FakeLLMServer,
    make_llm_provider: MakeProvider,
    kind: str,
    status: int,
    header: str | None,
    non_retryable: bool,
) -> None:
    headers = {"x-should-retry": header} if header else {}
    fake.push(Reply(status=status, error_type="api_error", headers=headers))

    err = await raised(make_llm_provider(kind).run(CLASSIFIER, classify_request(), MODELS[kind]))

    assert err.non_retryable is non_retryable
