"""Committed histories of released workflow versions replay against today's code.

A change to TicketWorkflow that alters its command sequence for a ticket already in flight fails
here; guard such a change with ``workflow.patched`` and record new histories
(``python -m tests.replay.record_histories``). Histories produced by the rest of the suite are
replayed by the ``replay_check`` fixture.
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.support.temporal import ALL_WORKFLOWS, CONVERTER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_of_every_lifecycle_path_are_committed() -> None:
    names = {path.stem.split("-", 2)[-1] for path in HISTORIES}
    assert {
        "completed",
        "approved-after-escalation",
        "reworked-then-edited",
        "rejected",
        "failed",
    } <= names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_released_history_replays_without_nondeterminism(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


async def test_a_changed_command_sequence_is_caught_by_replay() -> None:
    """The guard itself works: a history whose first activity differs from what the code
    schedules must fail to replay."""
    path = next(p for p in HISTORIES if p.stem.endswith("-completed"))
    tampered = path.read_text().replace('"classify_ticket"', '"triage_ticket"', 1)
    history = WorkflowHistory.from_json("tampered", tampered)
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
