"""What the fan-out commands print: a plan's sub-tasks and answer, a swarm's outcome, a batch's
progress (the tickets' tables and report are in starter/render.py)."""

import textwrap

from rich.table import Table

from shared.batch import ID_CONFLICT, INVALID, BatchProgress
from shared.orchestration import OrchestratorFailure, OrchestratorResult
from shared.swarm import SwarmResult
from starter.plain_text import console, line
from starter.render import estimate_note, tokens_text, usd_text


def print_plan(workflow_id: str, result: OrchestratorResult) -> None:
    out = console()
    out.print(
        line(("Plan", "bold"), f" {workflow_id} ({result.plan_attempts} planning attempt(s))")
    )
    table = Table(title_justify="left")
    for column in ("Sub-task", "Worker", "Needs", "Status", "Model", "Note"):
        table.add_column(column, overflow="fold")
    outcomes = {o.id: o for o in result.outcomes}
    for sub in result.plan.subtasks:
        o = outcomes[sub.id]
        note = o.error or ("simpler instruction, cheaper model" if o.simplified else "")
        table.add_row(
            sub.id, sub.worker, ", ".join(sub.depends_on) or "-", o.status, o.model or "-", note
        )
    out.print(table)
    out.print(line(("Answer", "bold")))
    for paragraph in result.synthesis.answer.splitlines():
        for wrapped in textwrap.wrap(paragraph, max((out.width or 100) - 4, 40)) or [""]:
            out.print(f"  {wrapped}")
    if result.synthesis.gaps:
        out.print(line(("Missing:", "yellow"), " " + "; ".join(result.synthesis.gaps)))
    calls = [u for group in result.usage.values() for u in group]
    estimated = sum(u.input_tokens + u.output_tokens for u in calls if u.tokens_estimated)
    out.print(
        f"usage: {tokens_text(result.tokens, estimated)} tokens"
        f"{estimate_note(result.tokens, estimated)}, ${usd_text(result.cost_usd)}"
    )


def print_failed_plan(failure: OrchestratorFailure) -> None:
    """What a failed run's sub-tasks did and what its calls spent (on stderr, before the error):
    after an invalid plan, no completed sub-task or a spent budget on paid models, the error
    alone said nothing of either."""
    out = console(stderr=True)
    if failure.outcomes:
        table = Table(title_justify="left")
        for column in ("Sub-task", "Worker", "Status", "Model", "Note"):
            table.add_column(column, overflow="fold")
        for o in failure.outcomes:
            note = o.error or ("simpler instruction, cheaper model" if o.simplified else "")
            table.add_row(o.id, o.worker, o.status, o.model or "-", note)
        out.print(table)
    calls = [u for group in failure.usage.values() for u in group]
    estimated = sum(u.input_tokens + u.output_tokens for u in calls if u.tokens_estimated)
    cost = sum(u.cost_usd for u in calls)
    out.print(
        f"spent before it stopped: {len(calls)} agent call(s), "
        f"{tokens_text(failure.tokens, estimated)} tokens"
        f"{estimate_note(failure.tokens, estimated)}, ${usd_text(cost)}"
    )


def print_swarm(result: SwarmResult, workflow_id: str) -> None:
    out = console()
    out.print(
        line(
            ("Swarm", "bold"),
            f" {workflow_id}: {result.succeeded}/{result.total} succeeded "
            f"({result.success_rate:.1%}), {result.failed} failed, in {result.runs} run(s)"
            + (f"; {result.reused} kept from an earlier run" if result.reused else ""),
        )
    )
    estimated = sum(
        r.usage.input_tokens + r.usage.output_tokens
        for r in result.outputs
        if r.usage and r.usage.tokens_estimated
    )
    out.print(
        f"  latency p50 {result.latency_ms_p50:.0f} ms, p95 {result.latency_ms_p95:.0f} ms, "
        f"p99 {result.latency_ms_p99:.0f} ms; {tokens_text(result.tokens, estimated)} tokens"
        f"{estimate_note(result.tokens, estimated)}, ${usd_text(result.cost_usd)}"
    )
    if result.outputs:
        counts: dict[str, int] = {}
        for r in result.outputs:
            if r.output:
                counts[r.output.sentiment] = counts.get(r.output.sentiment, 0) + 1
        out.print("  sentiment: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for failure in result.failures[:10]:
        out.print(line("  ", ("failed", "red"), f" {failure.item_id}: {failure.reason}"))
    if len(result.failures) > 10:
        out.print(f"  ... and {len(result.failures) - 10} more")


def print_batch(workflow_id: str, progress: BatchProgress) -> None:
    settled = ", ".join(f"{k} {v}" for k, v in sorted(progress.settled.items())) or "none yet"
    if not progress.settled and not progress.in_flight and progress.already_known:
        # Every ticket was known already (say, after make run): this batch started none, and
        # "at rest: none yet" read as if they were all still in progress.
        settled = "none started by this batch (`report` counts the known ones by state)"
    console().print(
        line(
            ("Batch", "bold"),
            f" {workflow_id}: {progress.total} ticket(s); {progress.started} started, "
            f"{progress.already_known} already known (not processed again), "
            f"{progress.in_flight} in flight; at rest: {settled}",
        )
    )
    # Refused by the batch's own check (a client and workers of other versions): never started.
    refused = progress.settled.get(INVALID, 0)
    for reason in progress.invalid:
        console().print(line("  ", ("invalid", "red"), f" {reason}"))
    if refused > len(progress.invalid):
        console().print(f"  ... and {refused - len(progress.invalid)} more")
    # Another ticket took the id while the batch ran: this one was never worked on.
    held = progress.settled.get(ID_CONFLICT, 0)
    for ticket_id in progress.conflicts:
        console().print(
            line(
                "  ",
                ("conflict", "red"),
                f" {ticket_id}: another ticket took this id while the batch ran; this one was "
                "NOT processed (submit it with another id)",
            )
        )
    if held > len(progress.conflicts):
        console().print(f"  ... and {held - len(progress.conflicts)} more")
