"""What `redrive` prints: the tickets it would redrive (or did), and those it left alone, with
why."""

from datetime import timedelta
from typing import TYPE_CHECKING

from starter import render
from starter.durations import describe_duration
from starter.redrive_plans import MAX_SCANNED_RUNS, REDRIVEN_BEFORE

if TYPE_CHECKING:  # starter.redrive prints through this module
    from starter.redrive import RedriveReport


# Tickets redriven before listed one a line at most; past it they are counted.
REDRIVEN_BEFORE_LISTED = 20


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
    before = [t for t in skipped if t.why.startswith(REDRIVEN_BEFORE)]
    # Counted, not listed, past a few: a window of many runs redriven before printed a line each.
    counted_only = len(before) > REDRIVEN_BEFORE_LISTED
    if skipped:
        out.print(f"Left alone ({len(skipped)}):")
        for t in skipped:
            if not (counted_only and t.why.startswith(REDRIVEN_BEFORE)):
                out.print(f"  {t.ticket_id}  {t.why}")
        if counted_only:
            out.print(f"  {len(before):,} ticket(s) {REDRIVEN_BEFORE} (`--json` lists them)")
    if not report.applied and act:
        out.print("Nothing was changed: run again with --yes to redrive.")
    if report.past_scan_ceiling:
        out.print(
            f"The listing stopped after {MAX_SCANNED_RUNS:,} runs, most of them of tickets "
            "redriven before: older ones in the window are out of this command's reach "
            "(docs/deploy.md, Redrive)."
        )
    elif report.more_past_limit:
        out.print(
            "The listing stopped at --limit tickets: older ones in the window were not looked "
            "at. Run the command again (with --yes, the ones redriven now are skipped without "
            "counting, and the next ones are reached), or with a larger --limit."
        )
