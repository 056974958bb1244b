"""A ticket whose escalation cue is wrapped where a negative lookahead looks ("fraud\\ndetection")
replays: the committed histories that asked the escalation patches, given such a text as their
ticket's (the cue was found as released, the patch asked), replay on today's cues. Read with its
whitespace collapsed alone, the text had no cue, the patch was not asked, and the replay failed
with TMPRL1100 (a review, 2026-12-07)."""

import json

import pytest
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.replay.committed import FOLDER, load
from tests.support.temporal import ALL_WORKFLOWS, CONVERTER, reading_only

WRAPPED = "Your fraud\ndetection flagged my card twice and nobody answers."


@pytest.mark.parametrize(
    "name",
    [
        "ticketworkflow-paths-fallback-heeds-escalation",
        "ticketworkflow-paths-start-stop-heeds-escalation",
    ],
)
async def test_a_wrapped_cue_replays_the_escalation_it_recorded(name: str) -> None:
    history = load(FOLDER / f"{name}.json")
    started = history.events[0].workflow_execution_started_event_attributes
    codec = CONVERTER.payload_codec
    assert codec is not None
    [first, *rest] = await codec.decode(list(started.input.payloads))
    request = json.loads(first.data)
    request["ticket"]["subject"], request["ticket"]["body"] = "My card", WRAPPED
    first.data = json.dumps(request).encode()
    del started.input.payloads[:]
    started.input.payloads.extend(await codec.encode([first, *rest]))

    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=reading_only(CONVERTER),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    await replayer.replay_workflow(history)
