"""What `redrive` prints: the tickets it would redrive (or did), and those it left alone, with
why."""

from datetime import timedelta
from typing import TYPE_CHECKING

from starter import render
from starter.durations import describe_duration

if TYPE_CHECKING:  # starter.redrive prints through this module
    from starter.redrive import RedriveReport


def print_report(report: "RedriveReport", since: timedelta) -> None:
    out = render.console()
    act = [t for t in report.tickets if t.action != "skip"]
    window = f"in {report.state} closed in the last {describe_duration(since)}"
    if not report.tickets:
        out.print(f"No ticket {window}.")
        return
    verb = "Redrove" if report.applied else "Would redrive"
    out.print(f"{verb} {len(act)} ticket(s) {window}:")
    for t in act:
        result: list[str | tuple[str, str]] = []
        if t.error:
            result = ["  ", (t.error, "red")]
        elif t.new_run_id:
            result = [f"  -> run {t.new_run_id}"]
        out.print(render.line(f"  {t.ticket_id}  {t.action}: {t.why}", *result))
    skipped = report.of("skip")
    if skipped:
        out.print(f"Left alone ({len(skipped)}):")
        for t in skipped:
            out.print(f"  {t.ticket_id}  {t.why}")
    if not report.applied and act:
        out.print("Nothing was changed: run again with --yes to redrive.")
    if report.more_past_limit:
        out.print(
            "The listing stopped at --limit tickets (or at ten times as many runs, those of "
            "tickets redriven before included): older ones in the window were not looked at. "
            "Run the command again (with --yes, the ones redriven now are skipped and the next "
            "ones reached), or with a larger --limit."
        )
