"""The scheduled payload collection's activity finds its worker's payload store through the
client's data converter; a client whose converter has none gets a failure that says so and is not
retried (a converter built by hand, not by shared.data_converter)."""

from pathlib import Path

import pytest
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payload_gc import collect_payloads_activity
from shared.data_converter import data_converter, payload_driver_of
from shared.payload_gc import GcRequest
from shared.stores.payloads_file import FilePayloadDriver


class ConverterOnlyClientFake:
    """Stands for a client: only its data converter is read before the collection starts."""

    def __init__(self, converter: DataConverter) -> None:
        self.data_converter = converter


def test_the_project_s_converter_names_its_payload_store_and_a_plain_one_none(
    tmp_path: Path,
) -> None:
    driver = FilePayloadDriver(tmp_path)
    assert payload_driver_of(data_converter(driver, key_ring=None)) is driver
    assert payload_driver_of(DataConverter.default) is None


async def test_a_worker_whose_converter_stores_no_payloads_fails_the_run_for_good() -> None:
    client = ConverterOnlyClientFake(DataConverter.default)
    env = ActivityEnvironment(client=client)  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as refused:
        await env.run(collect_payloads_activity, GcRequest(grace_seconds=3600))
    assert refused.value.type == "NoPayloadStore" and refused.value.non_retryable
    assert "no content-addressed payload store" in refused.value.message
