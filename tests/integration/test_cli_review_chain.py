"""`review --chain` against the real dev server and worker: a reviewer who read a ticket's status
before it was stopped and submitted again under its id (the new one's revisions count from 1
again) cannot approve the new one's draft with the command `status` printed."""

import json
import shlex
from pathlib import Path

import pytest

from shared import names
from shared.temporal_client import connect, connection_settings
from tests.integration.conftest import Stack
from tests.support.processes import run_cli

pytestmark = pytest.mark.integration

URGENT = {
    "id": "IT-CHAIN-1",
    "subject": "Production is down",
    "body": "Outage for all users, urgent!",
    "tier": "enterprise",
    "channel": "phone",
}


def printed_review(stack: Stack) -> list[str]:
    """The `review` command `status` prints for the ticket, as a user would paste it."""
    out = run_cli(stack.env, "status", URGENT["id"]).stdout
    decide = next(line for line in out.splitlines() if line.startswith("Decide"))
    return shlex.split(decide.removeprefix("Decide").split(" with ")[0])


async def test_a_review_printed_for_a_stopped_ticket_never_approves_the_next_under_its_id(
    stack: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "urgent.jsonl"
    path.write_text(json.dumps(URGENT) + "\n")
    first = run_cli(stack.env, "submit", str(path), "--wait")
    assert first.code == 0, first.output
    earlier = printed_review(stack)
    assert "--chain" in earlier and "--revision" in earlier

    client = await connect(connection_settings({"TEMPORAL_ADDRESS": stack.server.address}))
    await client.get_workflow_handle(names.ticket_workflow_id(URGENT["id"])).terminate("stuck")
    again = run_cli(stack.env, "submit", str(path), "--wait")
    assert again.code == 0, again.output
    current = printed_review(stack)
    # The same revision and a new chain: the revision alone cannot tell the two apart.
    assert current[current.index("--revision") + 1] == earlier[earlier.index("--revision") + 1]
    assert current[current.index("--chain") + 1] != earlier[earlier.index("--chain") + 1]

    # Without the wait (it would differ too): only the chain refuses it.
    at = earlier.index("--waiting-since")
    stale = run_cli(stack.env, *earlier[:at], *earlier[at + 2 :], "--approve")
    assert stale.code == 1, stale.output
    assert f"this review is for an earlier ticket under the id {URGENT['id']}" in stale.stderr
    status = json.loads(run_cli(stack.env, "status", URGENT["id"], "--json").stdout)
    assert (status["state"], status["reviews"]) == ("AWAITING_REVIEW", [])

    approved = run_cli(stack.env, *current, "--approve", "--reviewer", "ana")
    assert approved.code == 0, approved.output
    assert "ticket is now COMPLETED" in approved.stdout
    assert "approve accepted for ticket" in approved.stdout

    # The same command again: the first one's receipt, said to be one (it read as a new
    # acceptance of a ticket completed before).
    again = run_cli(stack.env, *current, "--approve", "--reviewer", "ana")
    assert again.code == 0, again.output
    assert "had already been accepted at" in again.stdout, again.stdout
    assert "nothing new was done; ticket is now COMPLETED" in again.stdout
