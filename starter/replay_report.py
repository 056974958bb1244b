"""What the replay gate prints (``python -m starter replay``): the report, and the problems
that keep it from passing."""

from datetime import datetime, timedelta
from typing import Final

from pydantic import BaseModel, Field

from starter import render
from starter.durations import describe_duration

# How a history whose payloads this process cannot read is reported.
UNREADABLE_PREFIX: Final = "its payloads cannot be read here: "


class ReplayFailure(BaseModel):
    workflow_type: str
    workflow_id: str
    run_id: str
    error: str
    # The history's payloads could not be read here (no database URL, a key missing): it was
    # not replayed, and says nothing about this code's determinism.
    unreadable: bool = False
    # Its history could not be fetched (the server failing for a moment): not replayed either.
    not_fetched: bool = False

    @property
    def broken(self) -> bool:
        """Replayed, and failed: this code would break it."""
        return not self.unreadable and not self.not_fetched


class ReplayReport(BaseModel):
    since: datetime
    limit_per_type: int
    replayed: dict[str, int] = Field(default_factory=dict)  # by workflow type
    running: dict[str, int] = Field(default_factory=dict)  # of those, still running
    failures: list[ReplayFailure] = Field(default_factory=list)
    # Listed, then gone before their history was fetched (erased, past retention): nothing a
    # deploy could break.
    gone: int = 0

    @property
    def total(self) -> int:
        return sum(self.replayed.values())


def print_report(report: ReplayReport, since: timedelta) -> None:
    out = render.console()
    out.print(
        f"Replayed {report.total} history(ies), running or started in the last "
        f"{describe_duration(since)} (at most {report.limit_per_type} running and "
        f"{report.limit_per_type} closed of each type) against this code:"
    )
    broken = [f for f in report.failures if f.broken]
    unread = [f for f in report.failures if f.unreadable]
    unfetched = [f for f in report.failures if f.not_fetched]
    for workflow_type, count in report.replayed.items():
        note: list[str | tuple[str, str]] = []
        if failed := sum(f.workflow_type == workflow_type for f in broken):
            note += ["  ", (f"{failed} failed", "red")]
        if not_read := sum(f.workflow_type == workflow_type for f in unread):
            note += ["  ", (f"{not_read} not readable here", "yellow")]
        if not_got := sum(f.workflow_type == workflow_type for f in unfetched):
            note += ["  ", (f"{not_got} not fetched", "yellow")]
        running = report.running.get(workflow_type, 0)
        out.print(render.line(f"  {workflow_type:<22} {count:>6} ({running} running)", *note))
    if not report.total:
        out.print("Nothing to replay: this proves nothing about this code.")
    elif not report.failures:
        out.print("Every history replays on this code: no non-deterministic change.")
    if broken:
        out.print(render.line(("NOT replayable on this code", "red"), f" ({len(broken)}):"))
        for f in broken:
            out.print(f"  {f.workflow_type} {f.workflow_id} (run {f.run_id}): {f.error}")
    if unread:
        # Nothing is known of these against this code: this process could not read them.
        out.print(render.line(("Not replayed, unreadable here", "yellow"), f" ({len(unread)}):"))
        for f in unread:
            out.print(f"  {f.workflow_type} {f.workflow_id} (run {f.run_id}): {f.error}")
    if unfetched:
        out.print(render.line(("Not replayed, not fetched", "yellow"), f" ({len(unfetched)}):"))
        for f in unfetched:
            out.print(f"  {f.workflow_type} {f.workflow_id} (run {f.run_id}): {f.error}")
    if report.gone:
        out.print(f"{report.gone} listed workflow(s) were gone (deleted) before they were fetched.")


def gate_problems(
    report: ReplayReport, since: timedelta, namespace: str, allow_empty: bool
) -> list[str]:
    """Why the gate does not pass, a sentence each; none when it does."""
    broken = [f for f in report.failures if f.broken]
    unread = [f for f in report.failures if f.unreadable]
    unfetched = [f for f in report.failures if f.not_fetched]
    said = []
    if broken:
        said.append(
            f"{len(broken)} workflow history(ies) do not replay on this code: a deploy would "
            "break them (add workflow.patched: docs/versioning.md)"
        )
    if unread:
        why = unread[0].error.removeprefix(UNREADABLE_PREFIX)
        said.append(
            f"{len(unread)} workflow history(ies) could not be replayed here, their payloads "
            f"unreadable ({why}): give this process what the workers have "
            "(TICKETS_DATABASE_URL, the key ring) and run it again"
        )
    if unfetched:
        said.append(
            f"{len(unfetched)} workflow history(ies) could not be fetched from the server "
            f"({unfetched[0].error.removeprefix('could not fetch the history: ')}): nothing is "
            "known of them against this code; run the gate again"
        )
    if not report.total and not allow_empty:
        said.append(
            f"no workflow ran or started in the last {describe_duration(since)} in namespace "
            f"{namespace}, so nothing was replayed and the gate proved nothing: check "
            "TEMPORAL_NAMESPACE and --since, or pass --allow-empty for a new deployment"
        )
    return said
