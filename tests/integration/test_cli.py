"""The command-line client against the real dev server and worker, driven as a user would."""

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from policy.priority import fairness_key
from shared import names
from shared.encryption.keyring import load_key_ring
from shared.temporal_client import connect, connection_settings
from tests.integration.conftest import Stack
from tests.support.processes import environment, free_port, run_cli

pytestmark = pytest.mark.integration

GOOD = [
    {
        "id": "IT-1",
        "subject": "Forgot my password",
        "body": "The reset e-mail never arrives.",
        "customer_id": "C-4711",
    },
    {
        "id": "IT-2",
        "subject": "Production is down",
        "body": "Outage for all users, urgent!",
        "tier": "enterprise",
        "channel": "phone",
    },
    {"id": "IT-3", "subject": "Invoice copy", "body": "Where can I download last month's invoice?"},
]


def write_tickets(path: Path) -> Path:
    lines = [json.dumps(GOOD[0]).encode()]
    lines.append(b'{"id": "IT-bad-json", "subject": "oops"')  # line 2: malformed JSON
    lines.append(json.dumps(GOOD[1]).encode())
    lines.append(json.dumps({"id": "IT-no-body", "subject": "Missing body"}).encode())  # line 4
    lines.append(json.dumps({"id": "IT-huge", "subject": "Huge", "body": "x" * 20_001}).encode())
    lines.append(b'{"id": "IT-latin1", "subject": "Caf\xe9", "body": "Bad bytes"}')  # line 6
    lines.append(json.dumps(GOOD[2]).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def outbox_rows(stack: Stack) -> dict[str, int]:
    with sqlite3.connect(stack.outbox) as db:
        return dict(db.execute("SELECT ticket_id, COUNT(*) FROM deliveries GROUP BY ticket_id"))


@pytest.fixture(scope="module")
def submitted(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    path = write_tickets(tmp_path_factory.mktemp("input") / "tickets.jsonl")
    result = run_cli(stack.env, "submit", str(path), "--wait", "--json")
    return path, {"result": result, "json": json.loads(result.stdout)}


def test_the_worker_registers_the_search_attributes_a_fresh_server_lacks(stack: Stack) -> None:
    assert "registered search attributes" in stack.worker.output()
    listed = run_cli(stack.env, "list", "--state", "COMPLETED", "--json")
    assert listed.code == 0, listed.output


def test_malformed_lines_are_reported_with_file_and_line_and_valid_lines_still_go_through(
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    path, data = submitted
    result, payload = data["result"], data["json"]
    assert result.code == 3, result.output
    errors = {(e["line"], e["message"]) for e in payload["errors"]}
    assert {line for line, _ in errors} == {2, 4, 5, 6}
    assert any(line == 4 and "field 'body' is missing" in m for line, m in errors)
    assert any(line == 5 and "the limit is 20,000" in m for line, m in errors)
    assert any(line == 6 and "not valid UTF-8 (byte 0xe9" in m for line, m in errors)
    assert all(e["source"] == str(path) for e in payload["errors"])
    assert [s["ticket_id"] for s in payload["submitted"]] == ["IT-1", "IT-2", "IT-3"]
    states = {t["ticket_id"]: t["state"] for t in payload["tickets"]}
    assert states == {"IT-1": "COMPLETED", "IT-2": "AWAITING_REVIEW", "IT-3": "COMPLETED"}


async def test_a_submitted_ticket_carries_its_customers_fairness_key(
    stack: Stack,
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))
    keys = {}
    for ticket_id in ("IT-1", "IT-2"):
        handle = client.get_workflow_handle(names.ticket_workflow_id(ticket_id))
        info = (await handle.describe()).raw_description.workflow_execution_info
        keys[ticket_id] = info.priority.fairness_key
    # IT-2 names no customer: it has no key of its own (the queue's default one). The key is an
    # HMAC under the CLI's key ring: stored in plain text, it names nobody without the ring.
    ring = load_key_ring(stack.env)
    assert ring is not None
    secret = ring.derived_key("temporal-fairness-key")
    assert keys == {"IT-1": fairness_key("C-4711", secret), "IT-2": ""}
    assert keys["IT-1"] != fairness_key("C-4711")


def test_another_ticket_under_an_id_already_taken_is_a_conflict_not_a_duplicate(
    stack: Stack,
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text(
        json.dumps({"id": "IT-1", "subject": "Refund", "body": "Please refund order 7 now."}) + "\n"
    )
    result = run_cli(stack.env, "submit", str(path))

    assert result.code == 1, result.output
    assert f"conflict   {path}:1: IT-1: an earlier ticket has this id" in result.stderr
    assert "0 submitted, 0 already known, 1 id conflict(s)" in result.stdout


def test_the_same_file_submitted_again_is_detected_and_nothing_runs_twice(
    stack: Stack,
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    path, _ = submitted
    again = run_cli(stack.env, "submit", str(path))
    assert again.code == 3  # the bad lines are still bad
    assert "0 submitted, 3 already known" in again.stdout
    assert "duplicate  IT-1 (submitted before; now COMPLETED; not processed again)" in again.stdout
    # This file's tickets only: other tests share the stack (test_serve delivers IT-API-1).
    # IT-2 waits for a review, which another test of this file may have given already.
    mine = {k: v for k, v in outbox_rows(stack).items() if k in {"IT-1", "IT-2", "IT-3"}}
    assert {"IT-1", "IT-3"} <= mine.keys() and set(mine.values()) == {1}


def test_a_reviewer_approves_from_the_cli_and_the_answer_is_delivered_exactly_once(
    stack: Stack,
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    stale = run_cli(stack.env, "review", "IT-2", "--approve", "--revision", "9")
    assert stale.code == 1
    assert stale.stderr.startswith("error: review refused: this review is for draft revision 9")
    assert "Traceback" not in stale.output

    approved = run_cli(
        stack.env, "review", "IT-2", "--approve", "--revision", "1", "--reviewer", "ana"
    )
    assert approved.code == 0, approved.output
    assert "ticket is now COMPLETED" in approved.stdout
    # How it went out, not the ledger's path (it said "delivered to ledger:..." for a webhook).
    assert "delivered r1 via ledger" in approved.stdout, approved.stdout

    status = json.loads(run_cli(stack.env, "status", "IT-2", "--json").stdout)
    assert status["state"] == "COMPLETED"
    # Self-declared, with namespace access: an operator's review, not a signed-in reviewer's.
    assert status["transitions"][-1]["agent"] == "reviewer:operator:ana"
    assert status["delivery"]["location"].endswith("#IT-2")
    again = run_cli(stack.env, "review", "IT-2", "--approve")
    assert again.code == 1 and "is COMPLETED, not awaiting review" in again.stderr
    assert outbox_rows(stack)["IT-2"] == 1


def test_list_and_report_show_what_the_server_indexes(
    stack: Stack,
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    mine = {"IT-1", "IT-2", "IT-3"}
    listed = settled_listing(stack, mine)
    ids = {t["ticket_id"] for t in listed}
    assert {"IT-1", "IT-2", "IT-3"} <= ids
    by_id = {t["ticket_id"]: t for t in listed}
    assert (
        by_id["IT-1"]["category"] == "Account" and by_id["IT-1"]["subject"] == "Forgot my password"
    )
    report = json.loads(run_cli(stack.env, "report", "--json").stdout)
    assert report["total"] == len(listed)
    assert report["calls"] > 0 and report["tokens"] > 0
    # One delivery per completed ticket, no other: this file's tickets, since other tests
    # complete tickets on this server with outboxes of their own (test_providers_live).
    completed = {t["ticket_id"] for t in listed if t["state"] == "COMPLETED"} & mine
    rows = outbox_rows(stack)
    assert {k for k in rows if k in mine} == completed
    assert all(count == 1 for count in rows.values())
    table = run_cli(stack.env, "report")
    assert table.code == 0 and "by state" in table.stdout


def test_a_ticket_from_flags_is_submitted_and_waited_for(stack: Stack) -> None:
    result = run_cli(
        stack.env,
        "submit",
        "--subject",
        "Dark mode please",
        "--body",
        "It would be great to add dark mode.",
        "--tier",
        "free",
        "--wait",
        "--json",
    )
    assert result.code == 0, result.output
    ticket = json.loads(result.stdout)["tickets"][0]
    assert ticket["category"] == "Feature Request" and ticket["state"] == "COMPLETED"
    assert ticket["ticket_id"].startswith("T-")


def settled_listing(stack: Stack, ids: set[str], timeout: float = 10.0) -> list[dict]:  # type: ignore[type-arg]
    """Every ticket on the shared stack (other files' too, past `list`'s default 100), once
    the listing agrees with the outbox on ``ids`` (visibility is updated asynchronously: a
    ticket approved a moment ago is delivered before it is listed COMPLETED)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = json.loads(run_cli(stack.env, "list", "--json", "--limit", "20000").stdout)
        completed = {t["ticket_id"] for t in listed if t["state"] == "COMPLETED"} & ids
        if completed == set(outbox_rows(stack)) & ids:
            return listed
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the listing did not agree with the outbox within {timeout:g}s: completed "
                f"{sorted(completed)}, sent {sorted(set(outbox_rows(stack)) & ids)}"
            )
        time.sleep(0.2)


def test_mistakes_get_one_clear_sentence_and_no_stack_trace(stack: Stack, tmp_path: Path) -> None:
    missing = run_cli(stack.env, "status", "NOPE-404")
    assert missing.code == 1
    assert missing.stderr.strip() == "error: no ticket NOPE-404 on this server (namespace default)"
    # The Web UI's workflow id, given for the ticket's.
    prefixed = run_cli(stack.env, "status", "ticket-NOPE-404")
    assert prefixed.stderr.strip().endswith(
        "; if ticket-NOPE-404 is ticket NOPE-404's workflow id, give the ticket id: NOPE-404"
    )

    unreachable_env = environment(f"127.0.0.1:{free_port()}", tmp_path)
    down = run_cli(unreachable_env, "report")
    assert down.code == 1
    assert down.stderr.startswith("error: cannot reach the Temporal server at 127.0.0.1:")
    assert "connection refused" in down.stderr

    bad_flags = run_cli(stack.env, "submit", "--subject", "Hi", "--body", "   ")
    assert bad_flags.code == 2 and "error flags: --body is empty" in bad_flags.stderr

    bad_state = run_cli(stack.env, "list", "--state", "X' OR TicketState != 'X")
    assert bad_state.code == 2 and "unknown state" in bad_state.stderr

    bad_revision = run_cli(stack.env, "review", "IT-2", "--approve", "--revision", "0")
    assert bad_revision.code == 2 and "must be 1 or more" in bad_revision.stderr

    long_reviewer = run_cli(stack.env, "review", "IT-2", "--approve", "--reviewer", "r" * 92)
    assert long_reviewer.code == 2  # recorded as operator:<name>, 100 characters at most
    assert long_reviewer.stderr.startswith("error: --reviewer is at most 91 characters")
    empty_reviewer = run_cli(stack.env, "review", "IT-2", "--approve", "--reviewer=")
    assert empty_reviewer.code == 2
    assert empty_reviewer.stderr.startswith("error: --reviewer needs a name")
    assert "pydantic" not in empty_reviewer.stderr

    for result in (missing, down, bad_flags, bad_state, bad_revision, empty_reviewer):
        assert "Traceback" not in result.output


def test_state_filters_are_case_insensitive(stack: Stack, submitted: tuple[Path, dict]) -> None:  # type: ignore[type-arg]
    upper = json.loads(run_cli(stack.env, "list", "--state", "COMPLETED", "--json").stdout)
    lower = json.loads(run_cli(stack.env, "list", "--state", "completed", "--json").stdout)
    assert upper and {t["ticket_id"] for t in upper} == {t["ticket_id"] for t in lower}


def test_times_are_in_the_team_s_zone_with_utc_beside_them_and_json_stays_in_utc(
    stack: Stack,
    submitted: tuple[Path, dict],  # type: ignore[type-arg]
) -> None:
    zoned = {**stack.env, "TICKETS_TIMEZONE": "America/New_York"}
    answered = [
        status
        for ticket_id in ("IT-1", "IT-3")
        if (status := json.loads(run_cli(zoned, "status", ticket_id, "--json").stdout))["delivery"]
    ]
    assert answered, "a ticket of this file went straight through"
    ticket_id = answered[0]["ticket_id"]
    # --json stays in UTC whatever the zone (as the HTTP API).
    assert answered[0]["delivery"]["delivered_at"].endswith(("Z", "+00:00"))

    shown = run_cli(zoned, "status", ticket_id)
    assert shown.code == 0, shown.output
    # The transitions' times: the whole time in the zone, UTC beside it (the date may differ).
    assert "At (UTC)" not in shown.stdout
    assert re.search(r"\d\d:\d\d:\d\d E[SD]T \(", shown.stdout.split("Transitions")[1])
    delivered = next(x for x in shown.stdout.splitlines() if x.startswith("Delivered"))
    assert re.search(
        r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T \(.*\d\d:\d\d:\d\d UTC\)", delivered
    )
    assert "At (UTC)" in run_cli(stack.env, "status", ticket_id).stdout

    unknown = run_cli({**stack.env, "TICKETS_TIMEZONE": "America/New_Yrok"}, "status", ticket_id)
    assert unknown.code == 1 and not unknown.stdout
    assert "TICKETS_TIMEZONE: unknown time zone 'America/New_Yrok'" in unknown.stderr
