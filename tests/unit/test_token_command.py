"""`python -m starter token create`, through the CLI's own parser and handler (no server needed)."""

import json
from pathlib import Path

import pytest

from api.accounts import TokenRegistry, token_hash
from starter.cli import main


def test_token_create_prints_the_token_once_and_the_entry_for_the_tokens_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "ana", "--role", "review"]) == 0
    shown = capsys.readouterr().out
    token = next(w for w in shown.split() if w.startswith("tka_"))
    assert f'sha256 = "{token_hash(token)}"' in shown and 'roles = ["review"]' in shown

    file = tmp_path / "tokens.toml"
    assert main(["token", "create", "gw", "--role", "submit", "--append", str(file), "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["sha256"] == token_hash(created["token"])
    assert created["token"] not in file.read_text()
    assert TokenRegistry.load(file).find(created["token"]) is not None

    assert main(["token", "create", "gw", "--append", str(file)]) == 1
    assert "already has a token named gw" in capsys.readouterr().err
    assert main(["token", "create", "a b"]) == 1
    assert capsys.readouterr().err.startswith("error: invalid name 'a b'")
