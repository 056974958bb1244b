"""Customer text and input errors are printed as text: square brackets are not Rich markup (a
subject "Hello [/] there" failed `list`, `report` and `status` for everyone with MarkupError, and
an input error quoting one failed `batch` before it started, losing the file's valid tickets),
emoji codes stay codes, and control characters are shown escaped, never sent to the terminal."""

from datetime import UTC, datetime, timedelta

import pytest

from policy.transitions import TicketState
from shared.agents import Priority
from shared.batch import BatchProgress
from shared.operations import SubmitOutcome
from shared.ticket_summary import TicketSummary
from shared.view import DeliveryReceipt, TicketView, Transition
from starter import cli, render, render_fanout, render_status, ticket_commands
from starter.errors import CliError
from starter.inputs import InputError

HOSTILE = (
    "Hello [/] there [bold]x[/bold] [link=http://evil.example]y :smile: \x1b[2J\x1b]0;t\x07"
    " \u202egnp.exe"
)


def test_a_ticket_s_text_is_printed_as_it_is_with_control_characters_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    view = TicketView(ticket_id="T-1", subject=HOSTILE, state=TicketState.NEW, transitions=[])
    render_status.print_status(view)
    render.console().print(render.tickets_table([view]))
    summary = TicketSummary(ticket_id="T-1", workflow_status="RUNNING", subject=HOSTILE)
    render.console().print(render.summaries_table([summary], "Tickets"))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "Hello [/] there [bold]x[/bold] [link=http://evil.example]y :smile: \\x1b[2J" in out
    assert "\\x1b]0;t\\x07" in out
    assert "\u202e" not in out and "\\u202egnp.exe" in out  # a right-to-left override, shown


def test_an_input_error_that_quotes_brackets_is_printed_and_the_rest_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    errors = [InputError("mk3.jsonl", 2, "unknown field '[/]'")]
    outcomes = [SubmitOutcome(ticket_id="BI-99", workflow_id="ticket-BI-99", started=True)]
    render.print_submit(outcomes, errors)
    captured = capsys.readouterr()
    assert "error mk3.jsonl:2: unknown field '[/]'" in captured.err
    assert "submitted  BI-99" in captured.out


def test_styled_parts_keep_their_style_and_plain_parts_stay_plain() -> None:
    text = render.line(("error", "red"), " [red]not a tag[/red] \x1b[31m")
    assert text.plain == "error [red]not a tag[/red] \\x1b[31m"
    assert [(s.start, s.end, str(s.style)) for s in text.spans] == [(0, 5, "red")]


def test_a_completed_ticket_says_how_its_answer_went_out_not_the_channel_it_came_by() -> None:
    receipt = DeliveryReceipt(
        ticket_id="T-1",
        channel="email",
        location="ledger:x#T-1",
        delivered_at="2026-12-03T10:00:00Z",
        revision=1,
        sent_via="ledger",
    )
    view = TicketView(ticket_id="T-1", subject="s", state=TicketState.COMPLETED, delivery=receipt)
    assert render.outcome_text(view) == "delivered r1 via ledger"


def test_a_batch_of_tickets_all_known_already_does_not_read_as_still_in_progress(
    capsys: pytest.CaptureFixture[str],
) -> None:
    known = BatchProgress(total=37, started=0, already_known=37, in_flight=0, settled={})
    render_fanout.print_batch("batch-1", known)
    out = capsys.readouterr().out
    assert "at rest: none started by this batch (`report` counts the known ones by state)" in out
    working = BatchProgress(total=3, started=3, already_known=0, in_flight=3, settled={})
    render_fanout.print_batch("batch-2", working)
    assert "at rest: none yet" in capsys.readouterr().out


def test_a_command_s_error_is_printed_with_its_control_characters_escaped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error can quote a provider's or a model's words (a failed plan's reason)."""

    async def fails(args: object) -> int:
        raise CliError("the model said \x1b[2Jboom")

    monkeypatch.setattr(ticket_commands, "cmd_status", fails)
    assert cli.main(["status", "T-1"]) == 1
    assert capsys.readouterr().err == "error: the model said \\x1b[2Jboom\n"


def test_captured_output_keeps_each_line_of_text_whole_and_tables_at_their_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `serve`'s banner in a log file was cut mid-sentence at the console's width.
    monkeypatch.setenv("COLUMNS", "140")
    sentence = "worker: payload encryption AES-256-GCM, current key k2 from data/keys.json; " * 4
    render.console().print(sentence.strip())
    render.console().print(render.line(("warning", "yellow"), " " + sentence.strip()))
    summary = TicketSummary(ticket_id="T-1", workflow_status="RUNNING", subject="s" * 300)
    render.console().print(render.summaries_table([summary], "Tickets"))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == sentence.strip()
    assert lines[1] == "warning " + sentence.strip()
    assert max(len(row) for row in lines[2:]) == 140  # the table: at the width


def test_a_closed_ticket_s_sla_deadline_says_met_or_missed_not_a_countdown() -> None:
    # `status` and `list` showed "in 55m" on a COMPLETED ticket.
    deadline = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    early, late = deadline - timedelta(minutes=5), deadline + timedelta(hours=1, minutes=2)

    assert render.deadline_text(deadline, closed=True, closed_at=early).endswith("UTC (met)")
    assert render.deadline_text(deadline, closed=True, closed_at=late) == (
        "2026-12-03 14:00 UTC (missed by 1h02m)"
    )
    assert render.deadline_text(deadline, closed=True) == "2026-12-03 14:00 UTC"
    just_late = deadline + timedelta(seconds=20)
    assert render.deadline_text(deadline, closed=True, closed_at=just_late).endswith(
        "(missed by <1m)"
    )
    assert render.deadline_text(deadline, closed=False).startswith("2026-12-03 14:00 UTC (")
    assert render.deadline_text(None, closed=True) == "-"
    # Failed, undelivered, rejected: the customer got nothing, which "met" would hide.
    assert render.deadline_text(deadline, closed=True, closed_at=early, answered=False) == (
        "2026-12-03 14:00 UTC (closed without an answer)"
    )


def test_a_file_of_input_errors_prints_the_first_twenty_and_how_many_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`submit README.md` printed 927 error lines."""
    errors = [InputError("README.md", n, "not valid JSON") for n in range(1, 928)]
    render.print_input_errors(errors)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "error README.md:1: not valid JSON"
    assert len(lines) == 21
    assert lines[-1] == (
        "... and 907 more input error(s), 927 in all: --json lists each (the first 1,000 bad lines)"
    )
    assert render.first_errors(errors[:2]) == (
        "README.md:1: not valid JSON; README.md:2: not valid JSON"
    )
    assert render.first_errors(errors).endswith("README.md:3: not valid JSON; and 924 more")


def test_status_of_a_ticket_closed_without_an_answer_does_not_say_its_sla_was_met(
    capsys: pytest.CaptureFixture[str],
) -> None:
    deadline = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    early = deadline - timedelta(hours=2)

    def closed(state: TicketState) -> str:
        view = TicketView(ticket_id="T-1", subject="Hello", state=state)
        view.priority, view.sla_deadline = Priority.MEDIUM, deadline
        view.transitions = [
            Transition(from_state=None, to_state=state, at=early, agent="x", reason="y")
        ]
        render_status.print_status(view)
        out = capsys.readouterr().out
        return next(line for line in out.splitlines() if "SLA deadline" in line)

    assert closed(TicketState.COMPLETED).endswith("(met)")
    for state in (TicketState.FAILED, TicketState.DELIVERY_FAILED, TicketState.REJECTED):
        assert closed(state).endswith("(closed without an answer)"), state


@pytest.mark.parametrize("columns", ["", "wide", "0", "-5"])
def test_an_odd_columns_value_falls_back_to_the_default_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    # int("") ended every command with redirected output in "unexpected ValueError".
    monkeypatch.setenv("COLUMNS", columns)
    summary = TicketSummary(ticket_id="T-1", workflow_status="RUNNING", subject="s" * 300)
    render.console().print(render.summaries_table([summary], "Tickets"))
    assert max(len(row) for row in capsys.readouterr().out.splitlines()) == 140
