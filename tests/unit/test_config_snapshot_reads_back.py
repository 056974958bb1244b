"""A ticket's configuration snapshot is read back with today's model on every replay: a bound
added after a field was released is checked when the worker loads its configuration, never when
a recorded snapshot is decoded (its ticket's every workflow task failed, for good)."""

import json

import pytest
from pydantic import ValidationError

from shared.agents import AgentRoute
from shared.payload_converter import SharedPydanticPayloadConverter
from shared.pipeline_config import LOADING, OFFLINE_ROUTE, PipelineConfig
from shared.settings import ConfigError, load_settings


def recorded(**changes: object) -> dict[str, object]:
    """Today's default snapshot as JSON, with an earlier version's values in it."""
    fields = json.loads(SharedPydanticPayloadConverter().to_payloads([PipelineConfig()])[0].data)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = fields
        for key in path:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return fields


@pytest.mark.parametrize(
    "snapshot",
    [
        # Recorded before 9fd59e8 (2026-12-02): "never" as eleven years, a two-day queue wait.
        recorded(review__final_deadline_hours=100_000),
        recorded(agent_timeouts__queue_wait_seconds=172_800),
        recorded(sla_hours__Low=100_000, review=None),
        # Before 2c7421a (2026-12-04): eleven routes, a context of two million tokens.
        recorded(
            routes__classifier=[
                AgentRoute(provider="offline", model=f"m{i}").model_dump() for i in range(11)
            ]
        ),
        recorded(orchestration__context_tokens=2_000_000),
        # Before 97a8291 (2026-11-30): a Low SLA of 200 hours, and no final deadline (its
        # default, 168, is shorter).
        recorded(sla_hours__Low=200, review=None),
    ],
)
def test_a_snapshot_recorded_before_a_bound_still_reads(snapshot: dict[str, object]) -> None:
    converter = SharedPydanticPayloadConverter()
    (payload,) = converter.to_payloads([snapshot])
    (config,) = converter.from_payloads([payload], [PipelineConfig])
    assert isinstance(config, PipelineConfig)
    assert config.routes  # every agent still has its chain


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"TICKETS_REVIEW_FINAL_DEADLINE_HOURS": "100000"},
            "TICKETS_REVIEW_FINAL_DEADLINE_HOURS: Input should be less than or equal to 87600",
        ),
        (
            {"TICKETS_SLA_HOURS_LOW": "200"},
            "review.final_deadline_hours (168) must be longer than the longest SLA "
            "(sla_hours.Low, 200 hours), so a ticket is escalated before it closes unanswered; "
            "0 turns the final deadline off",
        ),
    ],
)
def test_the_worker_still_refuses_them_when_it_loads_its_configuration(
    env: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, env)
    assert str(refused.value).endswith(said)


def test_the_loaded_chain_length_is_still_bounded() -> None:
    chain = ",".join(f"offline:{OFFLINE_ROUTE.model}-{i}" for i in range(11))
    with pytest.raises(ConfigError, match="11 routes; a chain holds at most 10"):
        load_settings(None, {"TICKETS_AGENT_CLASSIFIER": chain})
    # And where a chain reaches the model without that parse (a program's own settings).
    routes = {"classifier": [OFFLINE_ROUTE] * 11}
    with pytest.raises(ValidationError, match="at most 10 items"):
        PipelineConfig.model_validate({"routes": routes}, context={LOADING: True})
