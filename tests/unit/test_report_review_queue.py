"""`report`'s review queue says why each ticket waits, from visibility alone."""

import pytest

from shared.report import Report
from shared.ticket_summary import TicketSummary
from starter import render


def test_the_reports_review_queue_has_a_why_column_and_the_ticket_list_has_none(
    capsys: pytest.CaptureFixture[str],
) -> None:
    waiting = TicketSummary(
        ticket_id="T-1",
        workflow_status="RUNNING",
        state="AWAITING_REVIEW",
        review_reasons=["budget", "urgent"],
    )
    before = waiting.model_copy(update={"ticket_id": "T-2", "review_reasons": []})
    report = Report(
        total=2,
        by_state={"AWAITING_REVIEW": 2},
        by_category={},
        by_priority={},
        review_queue=[waiting, before],
        escalated=0,
        tokens=0,
        cost_usd=0.0,
        calls=0,
        trimmed_tokens=0,
        estimated_tokens=0,
        agents={},
    )

    render.print_report(report)
    out = capsys.readouterr().out
    render.console().print(render.summaries_table([waiting], "Tickets"))
    listing = capsys.readouterr().out

    rows = {line.split()[1]: line for line in out.splitlines() if "T-" in line}
    assert "Why" in out and "budget spent, urgent" in rows["T-1"]
    assert rows["T-2"].rstrip(" │|").endswith("-")
    assert "Why" not in listing and "budget spent" not in listing
