"""How `status` prints one ticket: its state, SLA deadline, draft, findings, reviews, delivery,
failure, the calls a running one waits on, its transitions and its usage."""

import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table

from policy.transitions import TicketState, is_terminal
from shared.pending_calls import PendingCall, describe_call
from shared.run_spend import EarlierRuns
from shared.view import TicketView
from starter import team_time
from starter.plain_text import console, line
from starter.render import ESTIMATE_NOTE, deadline_text, tokens_text, usd_text


def review_command_line(view: TicketView, began: datetime) -> str:
    """The `review` that decides on what this status shows: the draft's revision, the
    ticket's chain (another ticket submitted under its id since starts its revisions at 1
    again) and the wait for review it is in; without a draft, that there was none (refused
    if one is written before the decision arrives, as the API's null revision is)."""
    shown = [f"review {view.ticket_id}"]
    shown.append(f"--revision {view.draft.revision}" if view.draft else "--no-draft")
    if view.chain:
        shown.append(f"--chain {view.chain}")
    shown.append(f"--waiting-since {began.isoformat()}")
    actions = "--approve, --edit FILE, --rework NOTE or --reject REASON"
    return " ".join(shown) + f" with {actions}"


# What `redrive` does for a ticket at rest in each state it takes, as `status` suggests it.
REDRIVE_WHAT = {
    TicketState.FAILED: "once the cause is fixed, starts it again from its input",
    TicketState.DELIVERY_FAILED: "once the channel is fixed, sends its recorded answer again",
    TicketState.UNANSWERED: "starts it again from its input, to wait for review with a new draft",
}


def redrive_line(view: TicketView, now: datetime) -> str | None:
    """The `redrive` that takes this ticket, for a state it redrives: its window reaches back to
    when the ticket closed (the default 24 h missed older ones). It acts on every ticket of that
    state in the window, and only says what it would do without --yes."""
    what = REDRIVE_WHAT.get(view.state)
    if what is None or not view.transitions:
        return None
    hours = max(1, math.ceil((now - view.transitions[-1].at).total_seconds() / 3600) + 1)
    since = f"{hours}h" if hours <= 48 else f"{math.ceil(hours / 24)}d"
    return (
        f"python -m starter redrive --state {view.state} --since {since} ({what}; it takes "
        "every such ticket closed since then, and without --yes only says what it would do)"
    )


def print_status(
    view: TicketView,
    shown: str | None = None,
    earlier: EarlierRuns | None = None,
    pending: Sequence[PendingCall] = (),
) -> None:
    """``shown``: the state to show when it is not the view's own (a workflow terminated or
    timed out from outside, which could record none); ``earlier``: what the runs this one
    replaced spent; ``pending``: the calls its workflow waits on."""
    out = console()
    shown_other = bool(shown and shown != view.state)
    state = f"{shown} (last recorded {view.state})" if shown_other else view.state
    escalated: list[str | tuple[str, str]] = [" · ", ("ESCALATED", "red")] if view.escalated else []
    out.print(line((f"Ticket {view.ticket_id}", "bold"), f" · {state}", *escalated))
    out.print(f"Subject    {view.subject}")
    if view.ignored_input_fields:
        left_out = ", ".join(view.ignored_input_fields)
        out.print(f"Input      left out, unknown to the worker's version: {left_out}")
    if view.category:
        out.print(f"Category   {view.category} (confidence {view.confidence:.2f})")
    if view.priority:
        # Ended by the workflow (its last transition's time), or from outside (no time known).
        ended = is_terminal(view.state) and bool(view.transitions)
        closed_at = view.transitions[-1].at if ended else None
        closed = ended or (shown is not None and shown != view.state)
        answered = view.state is TicketState.COMPLETED and (shown or view.state) == view.state
        deadline = deadline_text(view.sla_deadline, closed, closed_at, answered=answered)
        out.print(f"Priority   {view.priority}; SLA deadline {deadline}")
    if view.draft:
        out.print(
            f"Draft      revision {view.draft.revision} by {view.draft.author}; "
            f"cites {', '.join(view.draft.cited_articles) or 'nothing'}"
        )
        width = max((out.width or 100) - 6, 40)
        for paragraph in view.draft.text.splitlines():
            for wrapped in textwrap.wrap(paragraph, width) or [""]:
                out.print(f"  │ {wrapped}")
    if view.findings:
        out.print("Findings   " + "; ".join(f"{f.code}: {f.message}" for f in view.findings))
    if view.review_reasons:
        out.print("Review     " + "; ".join(view.review_reasons))
    began = view.review_wait_began()
    if began is not None and view.state is TicketState.AWAITING_REVIEW and not shown_other:
        # What `review --waiting-since` takes, exactly (the workflow compares the moment).
        # The ISO time is what --waiting-since takes: kept, with the team's reading beside it.
        reading = f" ({team_time.at(began, seconds=True)})" if team_time.zoned() else ""
        out.print(f"Waiting    for review since {began.isoformat()}{reading}")
        # One line however wide the terminal: pasted, a wrapped command is several.
        out.print(f"Decide     {review_command_line(view, began)}", soft_wrap=True)
    for r in view.reviews:
        status = "applied" if r.applied else f"ignored ({r.note})"
        who = f"{r.decision.reviewer}: {r.decision.action}" if r.decision else "unparseable signal"
        out.print(f"  {team_time.at(r.at, seconds=True)} {who} {status}")
    if view.ignored_reviews_dropped:
        out.print(f"  … and {view.ignored_reviews_dropped} more ignored review signal(s), not kept")
    if view.delivery:
        d = view.delivery
        via = f" via {d.sent_via}" + (f" to {d.sent_to}" if d.sent_to else "") if d.sent_via else ""
        out.print(
            f"Delivered  revision {d.revision}{via}, recorded in {d.location} "
            f"at {team_time.at(d.delivered_at, seconds=True)}"
            + (f" (key {d.idempotency_key})" if d.idempotency_key else "")
        )
    if view.failure:
        out.print(line(("Failure", "red"), f"    {view.failure}"))
    if not shown_other and (next_step := redrive_line(view, datetime.now(UTC))) is not None:
        out.print(f"Next       {next_step}", soft_wrap=True)
    for call in pending:
        waiting, trouble = describe_call(call, lambda t: team_time.at(t, seconds=True))
        out.print(line(("Waiting", "yellow") if trouble else "Waiting", f"    {waiting}"))
    log = Table(title="Transitions", title_justify="left")
    for column in (team_time.clock_label(), "From", "To", "By", "Model", "Why"):
        log.add_column(column, overflow="fold")
    for t in view.transitions:
        log.add_row(
            team_time.clock(t.at), t.from_state or "", t.to_state, t.agent, t.model or "", t.reason
        )
    out.print(log)
    for f in view.fallbacks:
        then = f"fell back to {f.next}" if f.next else "no route left"
        out.print(
            line(("Fallback", "yellow"), f"   {f.role}: {f.failed} failed ({f.error}); {then}")
        )
    # The note only under figures that carry the mark (it was printed under every table).
    marked = any(u.estimated_tokens or u.trimmed_tokens for u in view.usage.values())
    usage = Table(
        title="Usage",
        title_justify="left",
        caption=ESTIMATE_NOTE if marked else None,
        caption_justify="left",
    )
    columns = (
        "Agent",
        "Calls",
        "Requests",
        "Tokens in",
        "cached",
        "cache write",
        "Tokens out",
        "Trimmed",
        "Cost USD",
    )
    for column in (*columns, "Models"):
        usage.add_column(column)
    for agent, u in view.usage.items():
        usage.add_row(
            agent,
            str(u.calls),
            str(u.requests),
            tokens_text(u.input_tokens, u.estimated_tokens),
            f"{u.cached_tokens:,}",
            f"{u.cache_write_tokens:,}",
            tokens_text(u.output_tokens, u.estimated_tokens),
            tokens_text(u.trimmed_tokens, u.trimmed_tokens),  # always an estimate
            usd_text(u.cost_usd),
            ", ".join(u.models),
        )
    out.print(usage)
    if earlier is not None:
        out.print(
            f"Earlier    {earlier.runs} run(s) before this one made {earlier.calls} agent "
            f"call(s), {tokens_text(earlier.tokens, earlier.estimated_tokens)} tokens, "
            f"${usd_text(earlier.cost_usd)} (list and report count them with this run's)"
        )
