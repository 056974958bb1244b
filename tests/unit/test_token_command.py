"""`python -m starter token create`, through the CLI's own parser and handler (no server needed)."""

import json
from pathlib import Path

import pytest

from api.accounts import MAX_TOKENS_FILE_BYTES, TokenRegistry, token_hash
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
    assert main(["token", "create", "a b"]) == 2  # a command line that does not make sense
    assert capsys.readouterr().err.startswith("error: invalid name 'a b'")


@pytest.mark.parametrize("start", [None, [], {"token": []}])
def test_a_token_appended_to_a_json_tokens_file_keeps_it_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start: object
) -> None:
    """It appended a TOML table after the JSON list, and the API then refused the whole file."""
    file = tmp_path / "tokens.json"
    if start is not None:
        file.write_text(json.dumps(start))
        file.chmod(0o600)
    tokens = []
    for name in ("ana", "gw"):
        assert main(["token", "create", name, "--append", str(file), "--json"]) == 0
        tokens.append(json.loads(capsys.readouterr().out)["token"])
    registry = TokenRegistry.load(file)
    assert [a.name for a in registry.accounts] == ["ana", "gw"]
    assert all(registry.find(t) is not None for t in tokens)
    assert all(t not in file.read_text() for t in tokens)
    if start is not None:
        assert file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]  # no temporary file left


def test_a_json_tokens_file_that_is_an_object_without_tokens_takes_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """{} loads as no tokens; appending to it failed with an unexpected KeyError."""
    file = tmp_path / "tokens.json"
    file.write_text("{}")
    assert main(["token", "create", "ana", "--append", str(file), "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    assert TokenRegistry.load(file).find(token) is not None


def test_a_symlinked_tokens_file_is_written_where_it_lives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mounted secret is often a symlink: the link stays, the file it names takes the token."""
    real = tmp_path / "secrets" / "tokens.json"
    real.parent.mkdir()
    real.write_text("[]")
    link = tmp_path / "tokens.json"
    link.symlink_to(real)
    assert main(["token", "create", "ana", "--append", str(link), "--json"]) == 0
    token = json.loads(capsys.readouterr().out)["token"]
    assert link.is_symlink()
    assert TokenRegistry.load(real).find(token) is not None


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_token_that_would_take_the_file_past_what_the_api_reads_is_not_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    # It was added, "the API reads it when it starts", and the next `serve` refused the file.
    file = tmp_path / f"tokens{suffix}"
    if suffix == ".toml":
        assert main(["token", "create", "ana", "--append", str(file)]) == 0
        file.write_text(file.read_text() + "#" * (MAX_TOKENS_FILE_BYTES - file.stat().st_size - 10))
    else:  # JSON is rewritten whole: as many entries as fit
        # Entries of one size, as many as fit: "bobby1" (a longer name) does not.
        entry = {"name": "t0000", "roles": ["review"], "sha256": "0" * 64}
        one, two = (len(json.dumps([entry] * n, indent=2)) + 1 for n in (1, 2))
        count = (MAX_TOKENS_FILE_BYTES - (2 * one - two)) // (two - one)
        entries = [entry | {"name": f"t{i:04}", "sha256": token_hash(f"{i}")} for i in range(count)]
        file.write_text(json.dumps(entries, indent=2) + "\n")
        assert MAX_TOKENS_FILE_BYTES - (two - one) < file.stat().st_size <= MAX_TOKENS_FILE_BYTES
    before = file.read_text()
    capsys.readouterr()

    assert main(["token", "create", "bobby1", "--append", str(file)]) == 1

    err = capsys.readouterr().err
    assert f"past the {MAX_TOKENS_FILE_BYTES:,} the API reads; nothing was added" in err
    assert file.read_text() == before
    assert "bobby1" not in {a.name for a in TokenRegistry.load(file).accounts}


def test_a_tokens_file_nested_too_deeply_and_a_long_name_are_one_short_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "unexpected RecursionError ... please report it"; a 100,000-character name echoed whole.
    deep = tmp_path / "tokens.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["token", "create", "ana", "--append", str(deep)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {deep}: its JSON nests too deeply for a tokens file"
    )
    assert main(["token", "create", "x y" * 50_000]) == 2
    said = capsys.readouterr().err
    assert len(said) < 400 and "(150,000 characters)" in said


def test_a_name_ending_in_a_line_break_is_refused_and_the_file_stays_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "$" matched before the final newline: the entry was written across two lines, and the
    # next append (and `serve`, which loads every token in the file) refused the file.
    file = tmp_path / "tokens.toml"
    assert main(["token", "create", "alice\n", "--append", str(file)]) == 2
    assert "invalid name 'alice\\n'" in capsys.readouterr().err
    assert main(["token", "create", "carol", "--append", str(file)]) == 0
    TokenRegistry.load(file)  # still TOML


def test_json_before_the_subcommand_is_refused_not_ignored(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `token --json create` printed text, and a script's JSON parse failed on the one output
    # that holds the token.
    with pytest.raises(SystemExit) as usage:
        main(["token", "--json", "create", "ana"])
    assert usage.value.code == 2
    assert "--json" in capsys.readouterr().err


def test_a_token_is_not_appended_to_a_file_listing_its_tokens_as_an_inline_array(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A [[token]] table after `token = [{...}]` is not TOML: appended, the next `serve`
    refused every token of the file (a review, 2026-12-07)."""
    file = tmp_path / "tokens.toml"
    file.write_text(f'token = [{{name = "ana", roles = ["review"], sha256 = "{"0" * 64}"}}]\n')
    before = file.read_text()
    assert [a.name for a in TokenRegistry.load(file).accounts] == ["ana"]

    assert main(["token", "create", "bob", "--append", str(file)]) == 1

    err = capsys.readouterr().err
    assert "a [[token]] table cannot follow how this file lists its tokens" in err
    assert file.read_text() == before
    assert [a.name for a in TokenRegistry.load(file).accounts] == ["ana"]
