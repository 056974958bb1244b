"""`plan`, `swarm` and `batch` against the real dev server and worker, as a user runs them."""

import json
from pathlib import Path

import pytest

from tests.integration.conftest import Stack
from tests.support.processes import PROJECT_ROOT, run_cli

pytestmark = pytest.mark.integration


def test_plan_prints_the_plan_and_an_answer_grounded_in_the_knowledge_base(stack: Stack) -> None:
    task = "Compare the refund policy and the cancellation fee, and answer a customer's reply."
    result = run_cli(stack.env, "plan", task, "--wait", "--json")

    assert result.code == 0, result.output
    payload = json.loads(result.stdout)["result"]
    ids = [t["id"] for t in payload["plan"]["subtasks"]]
    assert ids[:3] == ["research-1", "research-2", "analyze"]
    assert all(o["status"] == "completed" for o in payload["outcomes"])
    assert payload["synthesis"]["sources"], "the answer cites knowledge-base articles"
    assert "Refund policy" in payload["synthesis"]["answer"]


def test_a_plan_run_again_under_its_id_is_shown_not_planned_and_paid_for_again(
    stack: Stack, tmp_path: Path
) -> None:
    """`plan --id X --wait` is what a run started without --wait advises; after that run
    completed, it started a second one (random ids aside, the default reuse policy allows it)."""
    task = "Summarise the refund policy for a customer."
    first = run_cli(stack.env, "plan", task, "--id", "plan-once", "--wait", "--json")
    assert first.code == 0, first.output
    # Said before the wait, for a Ctrl-C: the id to wait with again.
    assert "planning as plan-once; Ctrl-C stops the waiting, not the run" in first.stderr

    again = run_cli(stack.env, "plan", task, "--id", "plan-once", "--wait", "--json")
    assert again.code == 0, again.output
    assert "plan-once planned this task before and completed; showing that run" in again.stderr
    assert json.loads(again.stdout) == json.loads(first.stdout)

    unwaited = run_cli(stack.env, "plan", task, "--id", "plan-once")
    assert unwaited.code == 0, unwaited.output
    assert "--wait shows its result" in unwaited.stderr and "started" not in unwaited.stdout

    other = run_cli(stack.env, "plan", "Another task entirely.", "--id", "plan-once")
    assert other.code == 1
    assert "plan-once is completed with other input" in other.stderr
    assert other.stderr.rstrip().endswith("this task was NOT submitted: give it another --id")

    # Another command's run under that id: said to be one (it read "completed with other input").
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "r1", "text": "Arrived quickly, works well."}\n')
    swarm = run_cli(stack.env, "swarm", str(items), "--id", "plan-once")
    assert swarm.code == 1
    assert swarm.stderr.strip() == (
        "error: plan-once is a plan run, not a swarm: this set of items was NOT submitted: give "
        "it its own --id"
    )


def test_swarm_reports_bad_lines_analyses_the_rest_and_writes_every_result(
    stack: Stack, tmp_path: Path
) -> None:
    reviews = (PROJECT_ROOT / "samples" / "reviews.jsonl").read_text().splitlines()[:12]
    source = tmp_path / "reviews.jsonl"
    source.write_text("\n".join([*reviews[:5], '{"id": "broken"', *reviews[5:]]) + "\n")
    output = tmp_path / "insights.jsonl"

    result = run_cli(stack.env, "swarm", str(source), "--concurrency", "4", "--output", str(output))

    assert result.code == 3, result.output  # some input lines were invalid
    assert f"{source}:6: not valid JSON" in result.stderr
    assert "12/12 succeeded (100.0%), 0 failed" in result.stdout
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert [w["item_id"] for w in written] == [json.loads(r)["id"] for r in reviews]
    assert all(w["ok"] and w["output"]["key_points"] for w in written)

    again = run_cli(stack.env, "swarm", str(source), "--json")
    shown = json.loads(again.stdout)
    assert (
        shown["workflow_id"]
        == json.loads(run_cli(stack.env, "swarm", str(source), "--json").stdout)["workflow_id"]
    ), "the same items are the same swarm"
    # The bad line in the JSON too, not only on stderr.
    [error] = shown["errors"]
    assert (error["source"], error["line"]) == (str(source), 6)
    assert error["message"].startswith("not valid JSON")


def test_a_batch_resubmitted_processes_nothing_twice(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "batch.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"FB-{i}", "subject": "Invoice", "body": f"Invoice {i} is missing."})
            + "\n"
            for i in range(8)
        )
    )
    first = run_cli(stack.env, "batch", str(source), "--window", "3", "--wait", "--json")
    second = run_cli(stack.env, "batch", str(source), "--window", "3", "--wait", "--json")

    assert first.code == 0 and second.code == 0, first.output + second.output
    one, two = json.loads(first.stdout)["progress"], json.loads(second.stdout)["progress"]
    assert json.loads(first.stdout)["errors"] == []
    assert (one["started"], one["already_known"], sum(one["settled"].values())) == (8, 0, 8)
    assert (two["started"], two["already_known"]) == (0, 8)
    status = run_cli(stack.env, "status", "FB-3", "--json")
    assert json.loads(status.stdout)["state"] in ("COMPLETED", "AWAITING_REVIEW")


def test_a_batch_refuses_by_name_a_ticket_whose_id_another_ticket_holds(
    stack: Stack, tmp_path: Path
) -> None:
    def line(ticket_id: str, body: str) -> str:
        return json.dumps({"id": ticket_id, "subject": "Invoice", "body": body}) + "\n"

    first = tmp_path / "first.jsonl"
    first.write_text(line("FBC-1", "Invoice 1 is missing."))
    assert run_cli(stack.env, "batch", str(first), "--wait", "--json").code == 0
    # Another helpdesk's ticket 1 (other words), a new ticket, and the first one again.
    second = tmp_path / "second.jsonl"
    second.write_text(
        line("FBC-1", "Where is my parcel?")
        + line("FBC-2", "Invoice 2 is missing.")
        + line("FBC-1", "Invoice 1 is missing.").replace("FBC-1", "FBC-3")
    )
    result = run_cli(stack.env, "batch", str(second), "--wait", "--json")

    assert result.code == 3, result.output
    # Named with its file and line, as `submit` names it.
    said = f"conflict {second}:1: FBC-1: an earlier ticket on this server has this id"
    assert said in " ".join(result.stderr.split()), result.stderr
    payload = json.loads(result.stdout)
    assert payload["conflicts"] == ["FBC-1"]
    assert (payload["progress"]["total"], payload["progress"]["started"]) == (2, 2)

    same = run_cli(stack.env, "batch", str(first), "--wait", "--json")
    assert same.code == 0, same.output  # the same ticket again is already known, not a conflict
    assert json.loads(same.stdout)["conflicts"] == []

    # Without --wait too: the refused id was on stderr only, the JSON said nothing of it.
    third = tmp_path / "third.jsonl"
    third.write_text(line("FBC-1", "Still no parcel.") + line("FBC-4", "Invoice 4 is missing."))
    started = run_cli(stack.env, "batch", str(third), "--json")
    assert json.loads(started.stdout)["conflicts"] == ["FBC-1"], started.output
