"""The replay gate with nothing to replay: it proved nothing, so it does not pass (a gate run in
another namespace, or with a --since shorter than the last deploy, exited 0 and printed "Every
history replays on this code"). `--allow-empty` is for a new deployment. The server is a fake
here (a client that names its namespace, a replay that finds nothing): the real replay is
tests/ops/test_replay_command.py's."""

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from starter import cli, replay
from starter.replay import ReplayReport


class FakeClient:
    namespace = "staging"


@pytest.fixture
def nothing_to_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    async def open_client() -> FakeClient:
        return FakeClient()

    async def replay_recent(*args: Any) -> ReplayReport:
        return ReplayReport(since=datetime.now(UTC) - timedelta(days=7), limit_per_type=100)

    monkeypatch.setattr(replay, "open_client", open_client)
    monkeypatch.setattr(replay, "replay_recent", replay_recent)


def test_a_gate_that_replayed_nothing_fails_and_says_why(
    nothing_to_replay: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["replay", "--since", "7d"])
    out, err = capsys.readouterr()

    assert code == 1
    assert "Nothing to replay: this proves nothing about this code." in out
    assert "Every history replays" not in out
    assert "nothing was replayed and the gate proved nothing" in err
    assert "namespace staging" in err


def test_allow_empty_lets_a_new_deployment_pass(
    nothing_to_replay: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["replay", "--allow-empty"]) == 0
    assert "Nothing to replay" in capsys.readouterr().out


def test_the_flag_is_parsed() -> None:
    args = cli.build_parser().parse_args(["replay", "--allow-empty"])
    assert isinstance(args, argparse.Namespace) and args.allow_empty is True


def test_a_history_not_fetched_is_not_called_a_change_a_deploy_would_break(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A workflow deleted between the listing and the fetch, and a server's hiccup: both were
    # "do not replay on this code: a deploy would break them (add workflow.patched ...)".
    from types import SimpleNamespace

    from temporalio.service import RPCError, RPCStatusCode

    from starter.replay import note_fetch_failure

    report = ReplayReport(since=datetime.now(UTC) - timedelta(days=7), limit_per_type=100)
    report.replayed["TicketWorkflow"] = 3
    deleted = SimpleNamespace(id="ticket-T-1", run_id="r1")
    hiccup = SimpleNamespace(id="ticket-T-2", run_id="r2")
    note_fetch_failure(
        report, "TicketWorkflow", deleted, RPCError("gone", RPCStatusCode.NOT_FOUND, b"")
    )
    note_fetch_failure(
        report, "TicketWorkflow", hiccup, RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
    )

    async def open_client() -> FakeClient:
        return FakeClient()

    async def replay_recent(*args: Any) -> ReplayReport:
        return report

    monkeypatch.setattr(replay, "open_client", open_client)
    monkeypatch.setattr(replay, "replay_recent", replay_recent)
    code = cli.main(["replay", "--since", "7d"])
    out, err = capsys.readouterr()

    assert code == 1  # nothing is known of the one not fetched: the gate does not pass
    assert "a deploy would break" not in err and "NOT replayable" not in out
    assert "1 workflow history(ies) could not be fetched" in err and "run the gate again" in err
    assert "ticket-T-2" in out and "ticket-T-1" not in out
    assert "1 listed workflow(s) were gone" in out
