"""Which patches' old paths a committed history replays, so the list of those with none can only
shrink.

``tests/replay/test_patch_coverage.py`` checks that each patch's new path is recorded. The old
path (``workflow.patched`` answering False: the commands of the code before the patch) is what
tickets already running take on replay; a later edit of the ``else`` side breaks them, and
passes every test whose histories were recorded after the patch. A history recorded with the
code before the patch guards it: ``<workflow type>-before-<patch>.json``, each recorded by
running the patch's own test against the commit before it (the test fails there, which is the
point: its workflow took the old path) and keeping the history of the workflow it started.

This replays every committed history, unsandboxed (fast; the sandboxed replay is
tests/replay/test_replay.py), with each ``patched`` answer logged.
"""

import collections

import pytest
import temporalio.workflow
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.replay.committed import HISTORIES, load
from tests.replay.test_patch_coverage import WITHOUT_A_COMMITTED_HISTORY, patch_ids_in_code
from tests.support.temporal import ALL_WORKFLOWS, CONVERTER, reading_only

# Old paths no committed history replays, with the reason. The patches no history asks at all
# are test_patch_coverage's WITHOUT_A_COMMITTED_HISTORY (the same reasons hold for both paths).
WITHOUT_AN_OLD_PATH = {
    "cancel-during-check": "not recorded: its test imports names added with the patch",
    "cancel-reports-spend": "not recorded: its test imports OrchestrationSpent, added with it",
    "invisible-edit-ignored": "not recorded: its test imports review.visible, added with it",
    "rework-cap": "not recorded: its test imports review_gate.MAX_REWORKS, added with it",
    "reported-cool-down": "its test, run against the code before it, did not reach the path",
    "orchestrated-resolution": "not recorded: no ticket was complex (triage's verdict) before it",
    # Asked only when a rerun is given kept results; code before 9744207 never was, and the
    # code that was without the patch (9744207-273d105, committed 12 minutes before it) sent a
    # chunk only the items it had not kept: its history (recorded) does not replay.
    "keeps-carried-results": "not recorded: only 9744207-273d105 took it, not replayable",
    # Its old path is a REPLACED report reaching a batch worker from before the check made one
    # (the state ignored as no ticket's, settled-state-checked): no code before it sent one.
    "replaced-counted": "not recorded: the check made no REPLACED before the patch",
    # Asked only when the input carries the ticket's snapshot, which only code with the patch
    # sends; its False answer is a run whose first task an earlier worker took (a rolling
    # deploy). That branch is the same config_snapshot() call every earlier orchestrator
    # history replays without asking.
    "ticket-config-kept": "not recorded: only a rolling deploy between versions takes it",
}


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[bool]]:
    """Every ``workflow.patched`` answer while the fixture's test runs, by patch id."""
    seen: dict[str, set[bool]] = collections.defaultdict(set)
    real = temporalio.workflow.patched

    def logged(patch_id: str) -> bool:
        answer = real(patch_id)
        seen[patch_id].add(answer)
        return answer

    monkeypatch.setattr(temporalio.workflow, "patched", logged)
    return seen


async def test_the_patches_whose_old_path_no_history_replays_are_only_the_known_ones(
    answers: dict[str, set[bool]],
) -> None:
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        data_converter=reading_only(CONVERTER),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    for path in HISTORIES:
        await replayer.replay_workflow(load(path))

    in_code = patch_ids_in_code()
    old_path_replayed = {patch for patch, said in answers.items() if False in said}
    missing = in_code - old_path_replayed - set(WITHOUT_A_COMMITTED_HISTORY)
    new = sorted(missing - set(WITHOUT_AN_OLD_PATH))
    assert not new, (
        f"patches whose old path no committed history replays: {new}; record one with the code "
        "before the patch (docs/versioning.md), or name it here with the reason"
    )
    recorded = sorted(set(WITHOUT_AN_OLD_PATH) & old_path_replayed)
    assert not recorded, f"recorded since: take {recorded} off WITHOUT_AN_OLD_PATH"
