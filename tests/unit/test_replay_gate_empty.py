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
