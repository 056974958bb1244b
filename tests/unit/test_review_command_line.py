"""The `review` that `status` prints for a ticket waiting for review names what the reviewer saw:
the draft's revision, the ticket's chain and the wait, so pasting it never decides on another
ticket submitted under the same id since."""

import shlex
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policy.transitions import TicketState
from shared.view import DraftRecord, TicketView, Transition
from starter import cli, render_status
from starter.errors import CliError
from starter.review_command import _decision

BEGAN = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
CHAIN = str(uuid.uuid4())


def waiting() -> TicketView:
    moved = Transition(
        from_state=TicketState.VALIDATED,
        to_state=TicketState.AWAITING_REVIEW,
        at=BEGAN,
        agent="a",
        reason="r",
    )
    return TicketView(
        ticket_id="T-1",
        subject="s",
        state=TicketState.AWAITING_REVIEW,
        chain=CHAIN,
        draft=DraftRecord(revision=2, text="Hello", author="m"),
        transitions=[moved],
        review_reasons=["urgent"],
        review_reason_codes=["urgent"],
    )


def test_the_printed_review_command_decides_on_exactly_what_status_showed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render_status.print_status(waiting())
    out = capsys.readouterr().out
    printed = next(line for line in out.splitlines() if line.startswith("Decide"))
    command = printed.removeprefix("Decide").split(" with ")[0]
    args = cli.build_parser().parse_args([*shlex.split(command), "--approve"])

    decision = _decision(args)
    assert (decision.revision, decision.chain, decision.waiting_since) == (2, CHAIN, BEGAN)
    # Stopped from outside: nothing to decide on.
    render_status.print_status(waiting(), "TERMINATED")
    assert "Decide" not in capsys.readouterr().out


def test_a_chain_is_read_as_the_server_writes_it_and_anything_else_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    braced = "{" + CHAIN.upper() + "}"
    args = cli.build_parser().parse_args(["review", "T-1", "--approve", "--chain", braced])
    assert _decision(args).chain == CHAIN  # compared as a string by the workflow
    blank = cli.build_parser().parse_args(["review", "T-1", "--approve", "--chain", ""])
    assert blank.chain is None

    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["review", "T-1", "--approve", "--chain", "nope"])
    said = capsys.readouterr().err
    assert "argument --chain: 'nope' is not a ticket's chain: give the chain `status`" in said


def test_without_a_draft_the_printed_command_says_so_and_refuses_a_draft_written_since(
    capsys: pytest.CaptureFixture[str],
) -> None:
    render_status.print_status(waiting().model_copy(update={"draft": None}))
    printed = next(line for line in capsys.readouterr().out.splitlines() if "Decide" in line)
    command = printed.removeprefix("Decide").split(" with ")[0]
    args = cli.build_parser().parse_args([*shlex.split(command), "--reject", "spam"])

    decision = _decision(args)
    assert (decision.saw_no_draft, decision.revision) == (True, None)
    both = cli.build_parser().parse_args(
        ["review", "T-1", "--approve", "--no-draft", "--revision", "1"]
    )
    with pytest.raises(CliError, match="--no-draft and --revision"):
        _decision(both)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("yesterday", "'yesterday' is not a moment as `status` prints it, like 2026-12-06T09"),
        ("2026-12-06T09:00:00", "'2026-12-06T09:00:00' has no UTC offset: give a moment as"),
        ("0001-01-01T00:00:00+14:00", "'0001-01-01T00:00:00+14:00' cannot be said in UTC"),
    ],
)
def test_a_waiting_since_that_is_no_moment_is_a_usage_error_showing_the_form(
    capsys: pytest.CaptureFixture[str], given: str, said: str
) -> None:
    # It was exit 1 with pydantic's words ("Input should be a valid datetime or date, input is
    # too short"), and no form to follow.
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args(["review", "T-1", "--approve", "--waiting-since", given])
    assert stopped.value.code == 2
    assert f"argument --waiting-since: {said}" in capsys.readouterr().err


def test_an_edit_file_with_no_text_or_saved_as_utf16_is_named_as_such(tmp_path: Path) -> None:
    empty, utf16 = tmp_path / "empty.txt", tmp_path / "utf16.txt"
    empty.write_text(" \n")
    utf16.write_bytes("Hello".encode("utf-16"))
    for path, said in (
        # It said "an edit needs the new text (edited_text)": the API's field.
        (empty, f"{empty} holds no text: --edit sends the file's text as the reply"),
        (utf16, f"{utf16} is not UTF-8 text (byte 0xff at offset 0): it is saved as UTF-16"),
    ):
        args = cli.build_parser().parse_args(["review", "T-1", "--edit", str(path)])
        with pytest.raises(CliError) as refused:
            _decision(args)
        assert str(refused.value).startswith(said), str(refused.value)
