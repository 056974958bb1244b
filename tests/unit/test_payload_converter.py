"""Copies of the project's data converter share one set of encoding converters (one pydantic
type-adapter cache), and convert as the SDK's pydantic converter does."""

import dataclasses
import threading
from datetime import UTC, datetime

from temporalio.contrib.pydantic import PydanticPayloadConverter, ToJsonOptions
from temporalio.converter import WorkflowSerializationContext

from shared.agents import AgentRoute
from shared.data_converter import data_converter
from shared.payload_converter import SharedPydanticPayloadConverter
from shared.swarm import ItemResult

ITEM = ItemResult(item_id="r1", ok=False, error="the provider refused it")
ROUTE = AgentRoute(provider="openai", model="gpt-4o-mini")


def json_converter(payload_converter: object) -> object:
    # The SDK wraps the payload converter for its own transfer types.
    inner = getattr(payload_converter, "_inner_payload_converter", payload_converter)
    return inner.converters[b"json/plain"]  # type: ignore[attr-defined]


def test_copies_of_the_data_converter_share_the_json_converter_and_its_type_adapters() -> None:
    converter = data_converter(key_ring=None)
    copy = dataclasses.replace(converter)

    assert copy.payload_converter is not converter.payload_converter  # the SDK made a new one
    assert json_converter(copy.payload_converter) is json_converter(converter.payload_converter)
    # The adapter one copy built for a type, the next one does not build again.
    [payload] = converter.payload_converter.to_payloads([ITEM])
    assert converter.payload_converter.from_payloads([payload], [ItemResult]) == [ITEM]
    adapters = json_converter(copy.payload_converter)._type_adapter  # type: ignore[attr-defined]
    hits = adapters.cache_info().hits
    assert copy.payload_converter.from_payloads([payload], [ItemResult]) == [ITEM]
    assert adapters.cache_info().hits == hits + 1


def test_it_converts_exactly_as_the_sdks_pydantic_converter() -> None:
    values = [ITEM, ROUTE, {"at": datetime(2026, 12, 3, tzinfo=UTC)}, None, b"\x00bytes", "text"]
    ours = SharedPydanticPayloadConverter().to_payloads(values)
    theirs = PydanticPayloadConverter().to_payloads(values)

    assert ours == theirs
    hints = [ItemResult, AgentRoute, dict, type(None), bytes, str]
    assert SharedPydanticPayloadConverter().from_payloads(ours, hints)[:2] == [ITEM, ROUTE]


def test_a_serialization_context_leaves_the_shared_converters_as_they_were() -> None:
    shared = SharedPydanticPayloadConverter()
    before = dict(shared.converters)
    context = WorkflowSerializationContext(namespace="default", workflow_id="T-1")

    with_context = shared.with_context(context)

    assert with_context.to_payloads([ITEM]) == shared.to_payloads([ITEM])
    assert SharedPydanticPayloadConverter().converters == before


def test_instances_built_at_once_on_many_threads_share_one_set() -> None:
    # The worker converts on its workflow-task threads and its event loop at the same time.
    built: list[SharedPydanticPayloadConverter] = []
    start = threading.Barrier(8)

    def build() -> None:
        start.wait()
        built.append(SharedPydanticPayloadConverter())

    threads = [threading.Thread(target=build) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len({id(json_converter(c)) for c in built}) == 1
    assert json_converter(built[0]) is json_converter(SharedPydanticPayloadConverter())


def test_a_subclass_builds_its_own_set_with_its_own_options() -> None:
    class ExcludingUnset(SharedPydanticPayloadConverter):
        def _build(self) -> None:
            PydanticPayloadConverter.__init__(self, ToJsonOptions(exclude_unset=True))

    SharedPydanticPayloadConverter()  # the parent's set exists first
    theirs = ExcludingUnset()

    assert json_converter(theirs) is not json_converter(SharedPydanticPayloadConverter())
    assert json_converter(ExcludingUnset()) is json_converter(theirs)
