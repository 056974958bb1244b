"""A gone child workflow (``ticket-T-1/resolution``) whose parent id is retained keeps only what
the parent's retained runs refer to (a review, 2026-12-08). An erased customer's complex ticket
shared its id with a later customer's simple one; erase kept the id's payloads (the store owns
them by workflow id) and said `gc-payloads --yes` would delete them once the runs were gone, but
the collection kept every payload of a child whose parent id existed, so the erased customer's
orchestrator input stayed as long as the other ticket was retained. Fakes stand in for Temporal's
answers (which workflows exist, what their histories refer to); the store is the real file
store."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared import payload_gc
from shared.stores.payloads import PayloadOwner, content_key
from shared.stores.payloads_file import FilePayloadDriver


class TwoHoursLaterFake(FilePayloadDriver):
    """The file store, its clock two hours on: the grace period has passed for every row."""

    async def clock(self) -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)


@pytest.mark.parametrize(
    ("parent_refers_to_it", "older_child_run_retained", "kept"),
    [
        (False, False, False),
        (True, False, True),
        # Its newest run deleted, an older one retained (deleting the current run does not
        # make an earlier one current): that run's history needs what its id stored.
        (False, True, True),
    ],
)
async def test_a_gone_childs_payload_goes_unless_a_retained_history_may_need_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parent_refers_to_it: bool,
    older_child_run_retained: bool,
    kept: bool,
) -> None:
    driver = TwoHoursLaterFake(tmp_path / "payloads")
    orchestrated = b"the erased customer's orchestrator input, with their ticket's text " * 10
    key = content_key(orchestrated)
    child = PayloadOwner(
        "workflow", "ticket-T-1/resolution", "OrchestratorWorkflow", "c1", "default"
    )
    await driver.put_many([(key, orchestrated)], child)
    retained = {"ticket-T-1"}  # the later customer's ticket under the same id
    reads: list[str] = []

    async def exists_fake(client: Any, workflow_id: str) -> bool:
        return workflow_id in retained

    async def parent_runs_fake(client: Any, workflow_id: str) -> set[str]:
        reads.append(workflow_id)
        # The parent's runs: the one that started this child refers to its input.
        return {key} if parent_refers_to_it else set()

    async def listed_runs_fake(client: Any, workflow_id: str) -> list[str]:
        return ["c0"] if older_child_run_retained and workflow_id == child.owner_id else []

    async def children_fake(client: Any, workflow_id: str) -> set[str]:
        return set()

    monkeypatch.setattr(payload_gc, "workflow_exists", exists_fake)
    monkeypatch.setattr(payload_gc, "_runs_refer_to", parent_runs_fake)
    monkeypatch.setattr(payload_gc, "listed_runs", listed_runs_fake)
    monkeypatch.setattr(payload_gc, "_still_read_by_children", children_fake)
    report = await payload_gc.collect_payloads(
        SimpleNamespace(namespace="default"),
        driver,
        timedelta(hours=1),
        really=True,  # type: ignore[arg-type]
    )

    left = await driver.payloads_of("ticket-T-1/resolution")
    assert left == ({key} if kept else set())
    assert (report.children_of_retained_parents, report.owners_gone) == (1, 0)
    assert reads == ([] if older_child_run_retained else ["ticket-T-1"])
