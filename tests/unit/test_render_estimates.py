"""Token figures that are estimates (characters / 4) say so wherever they are shown: the report,
a ticket's status, the tickets table."""

from datetime import UTC, datetime

import pytest

from policy.transitions import TicketState
from shared.agents import Usage
from shared.report import Report
from shared.ticket_summary import AgentTotals
from shared.view import AgentUsageTotals, TicketView, Transition
from starter import render, render_status


def report(tokens: int, estimated: int) -> Report:
    return Report(
        total=1,
        by_state={"COMPLETED": 1},
        by_category={"Account": 1},
        by_priority={"Medium": 1},
        review_queue=[],
        escalated=0,
        tokens=tokens,
        cost_usd=0.0,
        calls=4,
        trimmed_tokens=120,
        estimated_tokens=estimated,
        agents={"classifier": AgentTotals(tokens=tokens, estimated_tokens=estimated, calls=4)},
    )


def test_the_report_says_which_token_figures_are_estimates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render.print_report(report(tokens=1_947, estimated=1_947))
    out = capsys.readouterr().out
    assert "4 agent call(s), ~1,947 tokens (estimated: characters / 4), $0.0000" in out
    assert "~120 input tokens saved before any model read them (estimated: characters / 4)" in out
    assert render.ESTIMATE_NOTE in out


def test_counted_tokens_carry_no_estimate_mark_and_a_mix_says_how_many_are_estimated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render.print_report(report(tokens=5_000, estimated=0))
    counted = capsys.readouterr().out
    assert "5,000 tokens, $" in counted and "~5,000" not in counted
    render.print_report(report(tokens=5_000, estimated=1_200))
    assert "~5,000 tokens (1,200 of them estimated: characters / 4)" in capsys.readouterr().out


def view_with(offline: bool) -> TicketView:
    totals = AgentUsageTotals()
    totals.add(
        Usage(
            provider="offline" if offline else "openai",
            model="offline-rules-v1" if offline else "gpt-4.1-mini",
            input_tokens=300,
            output_tokens=40,
            trimmed_tokens=25,
            offline=offline,
        )
    )
    view = TicketView(ticket_id="T-1", subject="Hello", state=TicketState.COMPLETED)
    view.usage["classifier"] = totals
    view.transitions = []
    return view


@pytest.mark.parametrize("offline", [True, False])
def test_status_and_the_tickets_table_mark_estimated_tokens(
    capsys: pytest.CaptureFixture[str], offline: bool
) -> None:
    view = view_with(offline)
    render_status.print_status(view)
    render.console().print(render.tickets_table([view]))
    out = capsys.readouterr().out
    assert ("~300" in out) is offline and ("~340" in out) is offline
    assert "~25" in out  # trimming is always an estimate
    assert render.ESTIMATE_NOTE in out


def test_status_says_nothing_of_estimates_when_every_figure_was_counted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The note was printed under every ticket's usage, estimated or not.
    view = view_with(offline=False)
    view.usage["classifier"].trimmed_tokens = 0
    render_status.print_status(view)
    out = capsys.readouterr().out
    assert "300" in out and "~" not in out and render.ESTIMATE_NOTE not in out


def test_status_shows_a_stopped_workflow_s_status_beside_the_state_it_last_recorded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Terminated while awaiting review: the view still says AWAITING_REVIEW, which is no longer
    # true (no review can reach the ticket).
    view = TicketView(ticket_id="T-1", subject="Hello", state=TicketState.AWAITING_REVIEW)
    render_status.print_status(view, "TERMINATED")
    first = capsys.readouterr().out.splitlines()[0]
    assert "TERMINATED (last recorded AWAITING_REVIEW)" in first
    render_status.print_status(view, view.state)
    assert "(last recorded" not in capsys.readouterr().out


def test_a_ticket_whose_delivery_is_queued_says_why_in_the_tables() -> None:
    view = TicketView(
        ticket_id="T-1",
        subject="Refund",
        state=TicketState.DELIVERING,
        transitions=[
            Transition(
                from_state=TicketState.VALIDATED,
                to_state=TicketState.DELIVERING,
                at=datetime(2026, 3, 2, tzinfo=UTC),
                agent="delivery",
                reason="first attempt failed for now (x); queued for delivery with retries",
            )
        ],
    )
    assert render.outcome_text(view) == (
        "delivery queued, retrying: first attempt failed for now (x); queued for delivery with "
        "retries"
    )


def test_a_cost_too_small_for_four_decimals_is_not_shown_as_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A classification on a cheap model cost $0.000018: status and report showed 0.0000, which
    # reads as a model without a price.
    assert render.usd_text(0.000018) == "0.000018"
    assert render.usd_text(0.0) == "0.0000" and render.usd_text(1.23456) == "1.2346"
    assert render.usd_text(0.00005) == "0.0001"  # four decimals show it: as before
    cheap = report(tokens=100, estimated=0)
    cheap.cost_usd = cheap.agents["classifier"].cost_usd = 0.000018
    render.print_report(cheap)
    out = capsys.readouterr().out
    assert "$0.000018" in out and "0.0000 " not in out


def test_a_tiny_cost_budget_names_its_figures_in_the_hand_off() -> None:
    """The budget's hand-off sentence shows a cost under half a hundredth of a cent as digits,
    not as $0.0000 (which reads as nothing spent against a limit of nothing)."""
    from policy.budget import limit_problem
    from shared.pipeline_config import SpendingLimit

    problem = limit_problem(
        SpendingLimit(max_tokens=None, max_cost_usd=0.00004),
        spent_tokens=300,
        spent_cost_usd=0.000031,
        next_tokens=100,
        next_cost_usd=0.000012,
    )
    assert problem == (
        "cost budget: $0.000031 spent, the next call costs about $0.000012, the limit is $0.000040"
    )


def test_an_orchestrators_estimate_for_several_calls_says_so() -> None:
    """It passed the running sub-tasks' calls and the next one's as one estimate, and the
    hand-off said "the next call needs" four calls' worth."""
    from policy.budget import limit_problem
    from shared.pipeline_config import SpendingLimit

    problem = limit_problem(
        SpendingLimit(max_tokens=1_000, max_cost_usd=None),
        spent_tokens=700,
        spent_cost_usd=0.0,
        next_tokens=4 * 100,
        next_cost_usd=0.0,
        calls=4,
    )
    assert problem == (
        "token budget: 700 spent, the next 4 calls (those running and one more) need about 400, "
        "the limit is 1,000"
    )
