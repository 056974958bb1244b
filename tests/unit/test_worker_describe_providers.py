"""What the worker prints about each provider's rate when it starts: the limit configured, the
adaptive limit, the limit the provider declares (the default), or none."""

import pytest

from shared.agents import AgentRole, AgentRoute
from shared.pipeline_config import PipelineConfig
from shared.provider_config import WorkerSettings, default_providers
from worker import describe_providers

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
