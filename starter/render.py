"""Readable tables for people, JSON for scripts (``--json`` on every command)."""

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from policy.review_policy import in_brief
from policy.text_budget import ESTIMATE_NOTE, tokens_text, usd_text
from policy.transitions import TicketState, is_terminal
from shared.operations import SubmitOutcome
from shared.report import Report
from shared.ticket_summary import TicketSummary
from shared.view import TicketView
from starter import team_time
from starter.inputs import InputError
from starter.plain_text import console, line, printable

__all__ = ["console", "line", "printable"]  # what the commands print with, from here


def print_json(value: Any) -> None:
    def encode(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(mode="json")
        if isinstance(v, list | tuple):
            return [encode(x) for x in v]
        if isinstance(v, dict):
            return {k: encode(x) for k, x in v.items()}
        return v

    print(json.dumps(encode(value), indent=2, default=str))


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def when(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "-"
    delta = (moment - (now or datetime.now(UTC))).total_seconds()
    rel = f"in {_span(delta)}" if delta >= 0 else f"{_span(delta)} ago"
    return f"{team_time.at(moment)} ({rel})"


def is_terminal_name(state: str | None) -> bool:
    try:
        return state is not None and is_terminal(TicketState(state))
    except ValueError:
        return False


def deadline_text(
    deadline: datetime | None,
    closed: bool,
    closed_at: datetime | None = None,
    *,
    answered: bool = True,
) -> str:
    """An SLA deadline: counted down while the ticket is open; for a closed one (nothing more
    will happen to it) met or missed when its closing time is known, else the date alone. One
    closed without an answer (``answered`` False: failed, undelivered, rejected, unanswered,
    cancelled) neither met nor missed it: it says so."""
    if deadline is None or not closed:
        return when(deadline)
    if not answered:
        return f"{team_time.at(deadline)} (closed without an answer)"
    if closed_at is None:
        return team_time.at(deadline)
    late = (closed_at - deadline).total_seconds()
    kept = "met" if late <= 0 else f"missed by {_span(late) if late >= 60 else '<1m'}"
    return f"{team_time.at(deadline)} ({kept})"


def some_ids(ids: list[str], shown: int = 10) -> str:
    """The first few ids of a list, and whether more were left out."""
    return ", ".join(ids[:shown]) + (" ..." if len(ids) > shown else "")


def outcome_text(view: TicketView) -> str:
    if view.state == "COMPLETED" and view.delivery:
        # How it went out (the ledger, a webhook, e-mail), not the channel the ticket came in by.
        how = view.delivery.sent_via or view.delivery.channel
        return f"delivered r{view.delivery.revision} via {how}"
    if view.state == "AWAITING_REVIEW":
        flag = "ESCALATED; " if view.escalated else ""
        return flag + "review: " + "; ".join(view.review_reasons)
    if view.state == "FAILED":
        return f"failed: {view.failure}"
    if view.state == "UNANSWERED":
        return view.transitions[-1].reason if view.transitions else "closed unanswered"
    if view.state == "DELIVERING":
        return "delivery queued, retrying: " + (
            view.transitions[-1].reason if view.transitions else "first attempt failed"
        )
    if view.state == "DELIVERY_FAILED":
        return f"delivery failed: {view.failure}"
    if view.state == "REJECTED":
        return view.transitions[-1].reason if view.transitions else "rejected"
    return f"in progress ({view.state})"


def estimate_note(tokens: int, estimated: int) -> str:
    """What part of a token figure is an estimate, for a summary line."""
    if not estimated:
        return ""
    if estimated >= tokens:
        return " (estimated: characters / 4)"
    return f" ({estimated:,} of them estimated: characters / 4)"


def tickets_table(views: Sequence[TicketView], title: str = "Tickets") -> Table:
    estimated = any(v.estimated_tokens for v in views)
    table = Table(
        title=title,
        title_justify="left",
        show_lines=False,
        caption=ESTIMATE_NOTE if estimated else None,
        caption_justify="left",
    )
    for column in ("Ticket", "State", "Category", "Priority", "Rev", "Tokens", "Outcome"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            v.ticket_id,
            v.state,
            f"{v.category} ({v.confidence:.2f})" if v.category else "-",
            v.priority or "-",
            str(v.draft.revision) if v.draft else "-",
            tokens_text(v.total_tokens, v.estimated_tokens),
            outcome_text(v),
        )
    return table


def summaries_table(summaries: Iterable[TicketSummary], title: str, *, why: bool = False) -> Table:
    """``why``: a column of why each ticket waits for review (the review queue's)."""
    table = Table(title=title, title_justify="left")
    columns = ["Ticket", "State", "Category", "Priority", "SLA deadline", "Subject"]
    for column in [*columns, "Why"] if why else columns:
        table.add_column(column, overflow="fold")
    for s in summaries:
        # Its workflow closed, or about to (the state is final; the workflow ends after it).
        closed = s.workflow_status != "RUNNING" or is_terminal_name(s.state)
        answered = s.state == TicketState.COMPLETED.value
        deadline = deadline_text(s.sla_deadline, closed, answered=answered)
        deadline += " ESCALATED" if s.escalated else ""
        row = [
            s.ticket_id,
            s.state or s.workflow_status,
            s.category or "-",
            s.priority or "-",
            deadline if s.sla_deadline else "-",
            UNREADABLE_SUBJECT if s.unreadable else s.subject or "",
        ]
        # "-": it began waiting before the reasons were recorded in visibility (`status` has them).
        table.add_row(*row, *([in_brief(s.review_reasons) or "-"] if why else []))
    return table


UNREADABLE_SUBJECT = "(cannot be decrypted here)"


def unreadable_note(count: int) -> str:
    """What a listing or report says of the tickets it could not decrypt."""
    return (
        f"{count} ticket(s) could not be decrypted here (a key missing from this process's key "
        "ring, or a key under the right id with other bytes): their subjects and usage are not "
        "shown, nor counted in any total; `status ID` says which (docs/privacy.md: rotation)"
    )


# Input errors printed one a line, at most: a file that is not tickets at all (`submit
# README.md`) printed 927.
INPUT_ERRORS_SHOWN = 20


def input_errors_json(errors: Sequence[InputError]) -> list[dict[str, Any]]:
    """The input errors as a --json output carries them: each with its file, line and message."""
    return [{"source": e.source, "line": e.line, "message": e.message} for e in errors]


def print_input_errors(
    errors: Sequence[object], out: Console | None = None, indent: str = ""
) -> None:
    """Each input error on its line (``file:line: what``), the first INPUT_ERRORS_SHOWN of them."""
    out = out or console(stderr=True)
    for e in errors[:INPUT_ERRORS_SHOWN]:
        out.print(line(indent, ("error", "red"), f" {e}"))
    if len(errors) > INPUT_ERRORS_SHOWN:
        # Where the rest are (the hint about the file only fitted a file that is mostly errors,
        # which the reader judges from the count; it was said of 21 bad lines in 100,000 too).
        out.print(
            f"{indent}... and {len(errors) - INPUT_ERRORS_SHOWN:,} more input error(s), "
            f"{len(errors):,} in all: --json lists each (the first 1,000 bad lines)"
        )


def first_errors(errors: Sequence[object], shown: int = 3) -> str:
    """The first few input errors, for a one-sentence refusal."""
    said = "; ".join(str(e) for e in errors[:shown])
    return said + (f"; and {len(errors) - shown:,} more" if len(errors) > shown else "")


def print_submit(outcomes: Sequence[SubmitOutcome], errors: Sequence[InputError]) -> None:
    out = console()
    print_input_errors(errors)
    err = console(stderr=True)
    for o in outcomes:
        if o.started:
            out.print(f"submitted  {o.ticket_id}")
        elif o.conflict:
            where = f"{o.source}:{o.line}: " if o.source and o.line else ""
            err.print(
                line(
                    ("conflict", "red"),
                    f"   {where}{o.ticket_id}: an earlier ticket has this id with another "
                    "subject, body or customer; this one was NOT submitted (give it its own id)",
                )
            )
        else:
            out.print(
                f"duplicate  {o.ticket_id} "
                f"(submitted before; now {o.state or 'unknown'}; not processed again)"
            )
    started = sum(o.started for o in outcomes)
    conflicts = sum(o.conflict for o in outcomes)
    collided = f", {conflicts} id conflict(s)" if conflicts else ""
    out.print(
        f"{started} submitted, {len(outcomes) - started - conflicts} already known"
        f"{collided}, {len(errors)} input error(s)"
    )


def print_report(report: Report) -> None:
    out = console()
    earlier = f" ({report.earlier} from earlier runs)" if report.earlier else ""
    since = report.since.astimezone(UTC) if report.since else None
    window = f" started since {team_time.at(since)}" if since else ""
    out.print(
        line(("Report", "bold"), f": {report.total} ticket(s){window} on this server{earlier}")
    )
    if report.left_out:
        left_out = f"the newest {report.total:,} only: {report.left_out:,} older ticket(s) left out"
        out.print(line("  ", (left_out, "yellow"), " (choose a window with --since)"))
    if report.unreadable:
        out.print(line("  ", (unreadable_note(report.unreadable), "yellow")))
    for title, counts in (
        ("State", report.by_state),
        ("Category", report.by_category),
        ("Priority", report.by_priority),
    ):
        out.print(
            f"  {'by ' + title.lower():<13}" + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    out.print(
        f"  {'usage':<13}{report.calls} agent call(s), "
        f"{tokens_text(report.tokens, report.estimated_tokens)} tokens"
        f"{estimate_note(report.tokens, report.estimated_tokens)}, ${usd_text(report.cost_usd)}"
    )
    out.print(
        f"  {'trimming':<13}{tokens_text(report.trimmed_tokens, report.trimmed_tokens)} input "
        "tokens saved before any model read them (estimated: characters / 4)"
    )
    out.print(
        f"  {'review queue':<13}{len(report.review_queue)} waiting, {report.escalated} escalated"
    )
    if report.agents:
        agents = Table(title="Usage by agent", title_justify="left")
        for column in ("Agent", "Calls", "Tokens", "Cost USD"):
            agents.add_column(column, justify="left" if column == "Agent" else "right")
        for role, a in report.agents.items():
            tokens = tokens_text(a.tokens, a.estimated_tokens)
            agents.add_row(role, f"{a.calls:,}", tokens, usd_text(a.cost_usd))
        if report.estimated_tokens:
            agents.caption, agents.caption_justify = ESTIMATE_NOTE, "left"
        out.print(agents)
    if report.review_queue:
        out.print(
            summaries_table(report.review_queue, "Review queue (oldest deadline first)", why=True)
        )
