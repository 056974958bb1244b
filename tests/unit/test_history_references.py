"""Garbage collection finds every stored payload a history refers to, wherever in an event the
reference sits."""

import json

from temporalio.api.common.v1 import Memo, Payload, Payloads
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowExecutionCompletedEventAttributes,
    WorkflowExecutionStartedEventAttributes,
)
from temporalio.api.sdk.v1 import ExternalStorageReference
from temporalio.converter import JSONProtoPayloadConverter

from shared.history_references import ENCODED_REFERENCE_MARKER, referenced_hashes


def reference(key: str) -> Payload:
    ref = ExternalStorageReference(driver_name="postgres", claim_data={"sha256": key})
    payload = JSONProtoPayloadConverter().to_payload(ref)
    assert payload is not None
    return payload


def legacy_reference(key: str) -> Payload:
    data = {"driver_name": "files", "driver_claim": {"claim_data": {"sha256": key}}}
    return Payload(
        metadata={"encoding": b"json/external-storage-reference"}, data=json.dumps(data).encode()
    )


async def no_codec(payloads: object) -> list[Payload]:
    raise AssertionError("nothing here was encoded")


async def test_references_in_inputs_results_and_the_memo_are_all_found() -> None:
    started = HistoryEvent(
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            input=Payloads(payloads=[reference("a" * 64), Payload(data=b'{"plain": 1}')]),
            memo=Memo(fields={"subject": reference("b" * 64)}),
        )
    )
    completed = HistoryEvent(
        workflow_execution_completed_event_attributes=WorkflowExecutionCompletedEventAttributes(
            result=Payloads(payloads=[legacy_reference("c" * 64)])
        )
    )
    assert await referenced_hashes([started, completed], no_codec) == {
        "a" * 64,
        "b" * 64,
        "c" * 64,
    }


async def test_a_reference_the_codec_encoded_is_decoded_first() -> None:
    sealed = Payload(metadata={ENCODED_REFERENCE_MARKER: b"true"}, data=b"ciphertext")

    async def fake_codec(payloads: list[Payload]) -> list[Payload]:
        assert payloads == [sealed]
        return [reference("d" * 64)]

    event = HistoryEvent(
        workflow_execution_completed_event_attributes=WorkflowExecutionCompletedEventAttributes(
            result=Payloads(payloads=[sealed])
        )
    )
    assert await referenced_hashes([event], fake_codec) == {"d" * 64}
