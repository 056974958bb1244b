"""Ids, tasks and the bytes of an argument are checked by argparse: a usage error naming the
argument (exit 2), never a workflow started with a blank task or an id with a slash in it, nor
an "unexpected" error from an encoder deep in the client (`plan ""` printed pydantic's raw
ValidationError; `plan "   "` started a run; `status $'BI-\\xff'` failed with an
UnicodeEncodeError)."""

import os

import pytest

from starter import cli

# How the shell hands over a byte that is not UTF-8: decoded with a surrogate escape.
NOT_UTF8 = os.fsdecode(b"BI-\xff")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plan", ""], "argument task: the task is empty: say what to do"),
        (["plan", "   "], "argument task: the task is empty: say what to do"),
        (["plan", "x" * 20_001], "argument task: the task is 20,001 characters; at most"),
        (["plan", f"task {NOT_UTF8}"], "argument task: the task is not UTF-8 text"),
        (["plan", "Compare plans", "--id", "bad id/x"], "argument --id: 'bad id/x' is not a"),
        (["swarm", "items.jsonl", "--id", "a b"], "argument --id: 'a b' is not a workflow id"),
        (["status", NOT_UTF8], "argument ticket_id: the ticket id is not UTF-8 text"),
        (["status", "T 1"], "argument ticket_id: 'T 1' is not a ticket id"),
        (["review", "T/1", "--approve"], "argument ticket_id: 'T/1' is not a ticket id"),
    ],
)
def test_a_bad_argument_is_a_usage_error_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_good_arguments_pass_as_they_are() -> None:
    args = cli.build_parser().parse_args(["plan", "Compare plans", "--id", "plan-2026.12:a@b"])
    assert (args.task, args.id) == ("Compare plans", "plan-2026.12:a@b")
    assert cli.build_parser().parse_args(["status", "T-1001"]).ticket_id == "T-1001"
