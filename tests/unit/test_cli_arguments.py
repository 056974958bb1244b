"""Ids, tasks and the bytes of an argument are checked by argparse: a usage error naming the
argument (exit 2), never a workflow started with a blank task or an id with a slash in it, nor
an "unexpected" error from an encoder deep in the client (`plan ""` printed pydantic's raw
ValidationError; `plan "   "` started a run; `status $'BI-\\xff'` failed with an
UnicodeEncodeError)."""

import json
import os
from pathlib import Path

import pytest

from shared.swarm import MAX_SWARM_ITEMS
from starter import cli
from starter.errors import CliError
from starter.review_command import _decision

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
        # It said "holds text that is not Unicode (a lone surrogate like \\ud800)".
        (["submit", "--subject", NOT_UTF8, "--body", "b"], "argument --subject: the value is not"),
        (["status", "T 1"], "argument ticket_id: 'T 1' is not a ticket id"),
        (["review", "T/1", "--approve"], "argument ticket_id: 'T/1' is not a ticket id"),
        # Accepted before: "still in progress after -5s", and nan.
        (["submit", "t.jsonl", "--wait", "--timeout", "-5"], "argument --timeout: must be from 0"),
        (["submit", "t.jsonl", "--wait", "--timeout", "nan"], "argument --timeout: must be from 0"),
        (["run", "--timeout", "1e9"], "must be from 0 to 604,800 seconds, got 1e9"),
        # It said "chunks of 8188 items instead of 100000", then refused with "<= 1000".
        (["swarm", "r.jsonl", "--chunk-size", "100000"], "must be 1 to 1,000 (a child's"),
        # Exit 1 after the file was read, and nan was "less than or equal to 1".
        (["batch", "t.jsonl", "--window", "5000"], "argument --window: input should be less"),
        (["batch", "t.jsonl", "--tickets-per-run", "0"], "argument --tickets-per-run: input"),
        (["swarm", "r.jsonl", "--concurrency", "501"], "less than or equal to 500, got 501"),
        (["swarm", "r.jsonl", "--max-failure-rate", "2"], "less than or equal to 1, got 2"),
        (["swarm", "r.jsonl", "--max-failure-rate", "nan"], "a finite number, got nan"),
        # Both were "unexpected OverflowError: connect_ex(): port must be 0-65535".
        (["run", "--ui-port", "70000"], "argument --ui-port: 70000 is not a port number"),
        (["run", "--codec-port", "0"], "argument --codec-port: 0 is not a port number"),
        # Both were exit 1, after the parse.
        (["erase", "--email", "notanemail"], "argument --email: 'notanemail' is not one address"),
        (["erase", "--customer-id", " "], "argument --customer-id: must be 1 to 128 characters"),
        # Bytes that are not UTF-8 were "unexpected UnicodeEncodeError", after every ticket
        # had been read.
        (["erase", "--customer-id", "\udcff"], "argument --customer-id: the customer id is not"),
        (["erase", "--email", "\udcff@example.com"], "argument --email: the address is not UTF-8"),
        # Exit 1 after the parse, where every other bad number is exit 2.
        (["redrive", "--state", "FAILED", "--limit", "0"], "argument --limit: must be 1 or more"),
        (["replay", "--limit-per-type", "20000"], "--limit-per-type: must be at most 10,000"),
    ],
)
def test_a_bad_argument_is_a_usage_error_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_erase_takes_a_customer_id_a_ticket_from_before_the_intake_rule_may_hold() -> None:
    """Intake refuses a control character in a customer id since 2026-12-06; tickets taken
    before (and those programs start) may hold one, and erase must still be able to name it."""
    args = cli.build_parser().parse_args(["erase", "--customer-id", "ACME\t1"])
    assert args.customer_id == "ACME\t1"


def test_good_arguments_pass_as_they_are() -> None:
    # 0: accept the review and say where the ticket stands, without watching it.
    assert (
        cli.build_parser().parse_args(["review", "T-1", "--approve", "--timeout", "0"]).timeout == 0
    )
    args = cli.build_parser().parse_args(["plan", "Compare plans", "--id", "plan-2026.12:a@b"])
    assert (args.task, args.id) == ("Compare plans", "plan-2026.12:a@b")
    assert cli.build_parser().parse_args(["status", "T-1001"]).ticket_id == "T-1001"
    args = cli.build_parser().parse_args(["swarm", "r.jsonl", "--max-failure-rate", "0.25"])
    assert (args.max_failure_rate, args.concurrency) == (0.25, 20)
    assert cli.build_parser().parse_args(["batch", "t.jsonl", "--window", "1000"]).window == 1000


def test_ticket_flags_given_with_files_are_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's tickets were submitted and the flags' ticket vanished without a word. Exit 2:
    a command line that does not make sense (1 until 2026-12-07: a script read it as a failure
    worth trying again)."""
    file = tmp_path / "one.jsonl"
    file.write_text('{"subject": "a", "body": "b"}\n')
    assert cli.main(["submit", str(file), "--subject", "x", "--tier", "gold"]) == 2
    assert capsys.readouterr().err == (
        "error: --subject, --tier describe one ticket and are not read with files; give files "
        "or the flags\n"
    )


def test_a_ticket_flag_s_problem_names_the_flag_not_the_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli.main(["submit", "--subject", "s", "--body", "b", "--tier", "gold", "--id", "a b"])
    err = capsys.readouterr().err
    assert "--tier must be one of free, standard, premium, enterprise (got 'gold')" in err
    assert "--id must be 1-64 letters" in err
    assert "customer_tier" not in err and "ticket_id" not in err


def test_a_swarm_s_output_folder_is_checked_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was found missing only after the whole run, its results lost."""
    items = tmp_path / "reviews.jsonl"
    items.write_text('{"text": "Great kettle."}\n')
    out = tmp_path / "nowhere" / "out.jsonl"
    assert cli.main(["swarm", str(items), "--output", str(out)]) == 1
    assert capsys.readouterr().err == f"error: --output {out}: its folder does not exist\n"
    # A folder passed the check, and the results were lost after the run ("Is a directory").
    assert cli.main(["swarm", str(items), "--output", str(tmp_path)]) == 1
    said = capsys.readouterr().err
    assert said == f"error: --output {tmp_path}: is a folder; give a file's name\n"
    # `--output "$OUT"` with OUT unset ran and paid, and wrote the results nowhere.
    assert cli.main(["swarm", str(items), "--output", ""]) == 1
    assert capsys.readouterr().err == "error: --output : is empty; give a file's name\n"
    # The items' own file (by another name too) was replaced by the results, and a rerun then
    # refused every line.
    linked = tmp_path / "linked.jsonl"
    linked.symlink_to(items)
    assert cli.main(["swarm", str(items), "--output", str(linked)]) == 1
    said = capsys.readouterr().err
    assert (
        said == f"error: --output {linked}: is the items' own file; write the results to another\n"
    )
    assert items.read_text() == '{"text": "Great kettle."}\n'
    # A folder that cannot be written to (as root every access question says yes: /proc)
    # failed only after the paid run (a review, 2026-12-07).
    proc = "/proc/results.jsonl"
    assert cli.main(["swarm", str(items), "--output", proc]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: --output {proc}: its folder cannot be written"
    )


def test_swarm_results_replace_an_earlier_file_whole_or_not_at_all(tmp_path: Path) -> None:
    # Opened in place, a write that failed part-way emptied the earlier results and left the new
    # ones cut short (a review, 2026-12-07).
    from shared.swarm import ItemResult, SwarmResult
    from starter.swarm_outputs import write_outputs

    out = tmp_path / "insights.jsonl"
    out.write_text("earlier\n")
    result = SwarmResult.model_construct(
        outputs=[ItemResult(item_id="a", ok=False, error="x")], succeeded=0, failed=1
    )

    class Unwritable(ItemResult):
        def model_dump(self, *args: object, **kwargs: object) -> dict[str, object]:
            raise OSError("No space left on device")

    broken = SwarmResult.model_construct(outputs=[Unwritable(item_id="b", ok=False, error="y")])
    with pytest.raises(OSError):
        write_outputs(out, broken)
    assert out.read_text() == "earlier\n"  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["insights.jsonl"]  # no temporary left
    write_outputs(out, result)
    assert out.read_text().startswith('{"item_id": "a"')


def test_a_swarm_of_more_items_than_it_takes_is_refused_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """More than MAX_SWARM_ITEMS started, and its last runs stalled on the SDK's deadlock limit
    (no worker runs here: the refusal comes before any connection)."""
    items = tmp_path / "reviews.jsonl"
    items.write_text("".join(f'{{"text": "review {i}"}}\n' for i in range(MAX_SWARM_ITEMS + 1)))
    assert cli.main(["swarm", str(items)]) == 1
    said = capsys.readouterr().err
    assert said == (
        f"error: {items}: 20,001 items; a swarm takes at most 20,000: split the file and run "
        "each part as a swarm of its own (nothing was started)\n"
    )


@pytest.mark.parametrize("command", [["plan", "Hello"], ["batch", "x.jsonl"], ["swarm", "x.jsonl"]])
@pytest.mark.parametrize("taken", ["ticket-T-1002", "rate-controller-llm-openai"])
def test_a_run_s_id_may_not_take_a_ticket_s_or_a_controller_s(
    command: list[str], taken: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `batch --id ticket-T-1002` started a batch in that ticket's place: the ticket was lost.
    with pytest.raises(SystemExit) as exited:
        cli.main([*command, "--id", taken])
    assert exited.value.code == 2
    assert "--id: workflow ids starting" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        # Both were refused as "a rejection needs a reason".
        (["--rework", ""], "invalid review: a rework needs notes for the resolver"),
        (["--edit", ""], "--edit needs the name of the file that holds your reply"),
        # "String should have at least 1 character".
        (["--approve", "--reviewer", " "], "--reviewer needs a name (who decides, recorded as"),
        # A line break wrote a line of its own under the review's in `status`.
        (["--approve", "--reviewer", "ana\nEVIL"], "--reviewer must be one line of printable"),
        (["--approve", "--reviewer", "ana\u2028EVIL"], "--reviewer must be one line of printable"),
        (["--approve", "--reviewer", "ana\x00EVIL"], "--reviewer must be one line of printable"),
        (["--approve", "--reviewer", "\u200b"], "--reviewer needs a name (who decides"),
    ],
)
def test_an_empty_review_text_is_refused_for_its_own_action(argv: list[str], said: str) -> None:
    args = cli.build_parser().parse_args(["review", "T-1", *argv])
    with pytest.raises(CliError) as refused:
        _decision(args)
    assert str(refused.value).startswith(said)


def test_a_review_text_over_its_limit_names_the_flag_or_file_and_the_lengths(
    tmp_path: Path,
) -> None:
    # "invalid review: notes: String should have at most 4000 characters" for a --rework; the
    # --edit file went unnamed.
    edit = tmp_path / "reply.txt"
    edit.write_text("e" * 8_001)
    said = []
    for argv in (["--rework", "n" * 4_001], ["--reject", "r" * 1_001], ["--edit", str(edit)]):
        with pytest.raises(CliError) as refused:
            _decision(cli.build_parser().parse_args(["review", "T-1", *argv]))
        said.append(str(refused.value))

    assert said == [
        "invalid review: --rework: the text is 4,001 characters; the limit is 4,000",
        "invalid review: --reject: the text is 1,001 characters; the limit is 1,000",
        f"invalid review: --edit {edit}: the file's text is 8,001 characters; the limit is 8,000",
    ]


def test_an_edit_file_that_cannot_be_read_is_named_once_with_the_reason(tmp_path: Path) -> None:
    # "cannot read the edited reply from D: [Errno 21] Is a directory: 'D'".
    args = cli.build_parser().parse_args(["review", "T-1", "--edit", str(tmp_path)])
    with pytest.raises(CliError) as refused:
        _decision(args)
    assert str(refused.value) == f"cannot read the edited reply from {tmp_path}: Is a directory"


def test_version_and_a_role_that_does_not_exist_are_answered_by_argparse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("python -m starter 0.")
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["token", "create", "x", "--role", "superuser"])
    assert exited.value.code == 2
    assert "argument --role: 'superuser' is not a role: give submit, read, review or admin" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["list", "--limit", "9" * 26], "argument --limit: must be at most 20,000"),
        (["review", "T-1", "--approve", "--revision", "9" * 29], "must be at most 1,000,000"),
    ],
)
def test_a_count_or_revision_past_its_bound_is_refused_by_argparse(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both were taken as given (a 26-digit list limit, a 29-digit revision).
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == 2 and said in capsys.readouterr().err


@pytest.mark.parametrize("json_output", [False, True])
def test_a_submit_with_no_valid_ticket_says_why_and_fails_without_a_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], json_output: bool
) -> None:
    # No ticket was valid, so no client was made, and the check for stopped tickets used it
    # anyway: "unexpected UnboundLocalError", and with --json the input's errors never shown.
    file = tmp_path / "bad.jsonl"
    file.write_text('{"subject": 1}\n')
    code = cli.main(["submit", *(["--json"] if json_output else []), str(file)])
    out, err = capsys.readouterr()

    assert code == 1
    assert "unexpected" not in err
    if json_output:
        assert json.loads(out)["errors"]
    else:
        assert f"{file}:1" in err


def test_a_file_named_flags_is_a_file_not_the_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 is for a ticket given by flags; a file whose tickets are all invalid is exit 1,
    whatever its name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flags").write_text('{"subject": ""}\n')
    assert cli.main(["submit", "flags"]) == 1
    assert "flags:1:" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Ana\u00a0Lima", "\u0645\u0647\u200c\u0633\u0627"])
def test_a_reviewer_name_with_a_no_break_space_or_a_zero_width_non_joiner_is_taken(
    name: str,
) -> None:
    # A Persian name holds a zero-width non-joiner; a no-break space is a name's too.
    decision = _decision(
        cli.build_parser().parse_args(["review", "T-1", "--approve", "--reviewer", name])
    )
    assert decision.reviewer.endswith(name)
