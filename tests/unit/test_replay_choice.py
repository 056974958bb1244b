"""Which running executions the replay gate replays when more run than its limit
(starter/replay.py RunningChoice): the oldest of each recorded version set first, then the
newest, never one twice, never more than the limit. Listed executions are stand-ins with the
three fields the choice reads."""

from types import SimpleNamespace
from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from starter.replay import CHANGE_VERSION, RunningChoice


def execution(name: str, *versions: str) -> Any:
    pairs = [SearchAttributePair(CHANGE_VERSION, list(versions))] if versions else []
    return SimpleNamespace(
        id=name, run_id=f"{name}-run", typed_search_attributes=TypedSearchAttributes(pairs)
    )


def chosen(limit: int, *listed: Any) -> list[str]:
    choice = RunningChoice(limit)
    for e in listed:  # newest first, as the server lists them
        choice.add(e)
    return [e.id for e in choice.chosen()]


def test_the_oldest_of_each_version_set_comes_first_then_the_newest() -> None:
    listed = [
        execution("n1", "v2"),
        execution("n2", "v2"),
        execution("n3", "v2"),
        execution("o1", "v1"),
        execution("o2"),  # the oldest, from before any patch
    ]
    assert chosen(3, *listed) == ["o2", "o1", "n3"]
    assert chosen(4, *listed) == ["o2", "o1", "n3", "n1"]


def test_fewer_running_than_the_limit_are_all_replayed_once() -> None:
    listed = [execution("a", "v1"), execution("b", "v1"), execution("c")]
    assert sorted(chosen(10, *listed)) == ["a", "b", "c"]


def test_an_execution_listed_twice_takes_one_place() -> None:
    a = execution("a", "v1")
    assert chosen(3, a, a, execution("b", "v1")) == ["b", "a"]


def test_the_order_of_versions_in_the_attribute_does_not_make_another_set() -> None:
    listed = [execution("n", "v2", "v1"), execution("o", "v1", "v2")]
    assert chosen(1, *listed) == ["o"]
