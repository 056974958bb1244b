"""The strict JSON schema sent with every structured call is built once per output model, and a
caller that changes its copy changes nobody else's."""

from typing import Any, ClassVar

from pydantic import BaseModel

from activities.providers.completion import strict_json_schema


class CountingAnswer(BaseModel):
    """An output model that counts how often pydantic is asked for its schema."""

    asked: ClassVar[int] = 0
    label: str
    score: float = 0.5

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        cls.asked += 1
        return super().model_json_schema(*args, **kwargs)


def test_the_schema_is_generated_once_per_model() -> None:
    first = strict_json_schema(CountingAnswer)
    for _ in range(5):
        assert strict_json_schema(CountingAnswer) == first

    assert CountingAnswer.asked == 1
    assert first["required"] == ["label", "score"]
    assert first["additionalProperties"] is False
    assert "default" not in first["properties"]["score"]


def test_each_caller_gets_its_own_copy() -> None:
    mine = strict_json_schema(CountingAnswer)
    mine["properties"]["label"]["type"] = "integer"
    mine["required"].append("extra")

    fresh = strict_json_schema(CountingAnswer)

    assert fresh["properties"]["label"]["type"] == "string"
    assert fresh["required"] == ["label", "score"]
