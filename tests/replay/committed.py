"""The committed histories of released workflow versions (``histories/``) and what the replay
tests read from them."""

import json
from pathlib import Path

from temporalio.client import WorkflowHistory

from tests.support.temporal import patch_ids

FOLDER = Path(__file__).parent / "histories"
# Each file's workflow id where it is not the file's name (the recorders write it): a history
# file holds events only, and a child's replay needs its own id (a parent checks its children's).
IDS_FILE = FOLDER / "workflow-ids.json"


def read_ids() -> dict[str, str]:
    """The ids file as it is now (the recorders add to it)."""
    return json.loads(IDS_FILE.read_text()) if IDS_FILE.exists() else {}


def write_ids(ids: dict[str, str]) -> None:
    IDS_FILE.write_text(json.dumps(dict(sorted(ids.items())), indent=1) + "\n")


WORKFLOW_IDS = read_ids()
HISTORIES = sorted(p for p in FOLDER.glob("*.json") if p != IDS_FILE)


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(WORKFLOW_IDS.get(path.stem, path.stem), path.read_text())


def workflow_type(path: Path) -> str:
    history = load(path)
    return str(history.events[0].workflow_execution_started_event_attributes.workflow_type.name)


def patches(path: Path) -> set[str]:
    """The patch ids recorded in a history's markers."""
    return set(patch_ids(load(path).events))
