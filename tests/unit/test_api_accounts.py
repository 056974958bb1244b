"""API tokens: the tokens file, hashing and roles."""

import json
from pathlib import Path

import pytest

from api.accounts import (
    Account,
    Role,
    TokenRegistry,
    TokensFileError,
    new_token,
    token_entry,
    token_hash,
)


def test_a_token_is_found_by_its_hash_and_the_file_never_holds_it(tmp_path: Path) -> None:
    ana, bot = new_token(), new_token()
    path = tmp_path / "tokens.toml"
    path.write_text(token_entry("ana", [Role.REVIEW], ana) + token_entry("bot", [Role.SUBMIT], bot))

    registry = TokenRegistry.load(path)

    assert registry.find(ana) == Account("ana", frozenset({Role.REVIEW}))
    assert registry.find(bot) == Account("bot", frozenset({Role.SUBMIT}))
    assert registry.find(ana + "x") is None and registry.find("") is None
    assert ana not in path.read_text() and token_hash(ana) in path.read_text()
    assert ana.startswith("tka_") and len(ana) > 40


def test_admin_may_do_everything_and_other_roles_only_their_own() -> None:
    admin = Account("lead", frozenset({Role.ADMIN}))
    reviewer = Account("ana", frozenset({Role.REVIEW}))
    assert all(admin.may(role) for role in Role)
    assert reviewer.may(Role.REVIEW) and not reviewer.may(Role.SUBMIT)


def test_reading_is_its_own_role_which_review_includes_and_intake_does_not() -> None:
    reader = Account("dashboard", frozenset({Role.READ}))
    submitter = Account("helpdesk", frozenset({Role.SUBMIT}))
    reviewer = Account("ana", frozenset({Role.REVIEW}))
    assert reader.may(Role.READ) and not reader.may(Role.REVIEW) and not reader.may(Role.SUBMIT)
    assert not submitter.may(Role.READ)
    assert reviewer.may(Role.READ)


def test_a_json_tokens_file_works_too(tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([{"name": "gw", "role": "submit", "sha256": token_hash(token)}]))
    assert TokenRegistry.load(path).find(token) == Account("gw", frozenset({Role.SUBMIT}))


def test_a_json_tokens_file_naming_a_field_twice_is_refused(tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "tokens.json"
    # json would keep the last role: this token would have been an admin's.
    entry = json.dumps({"name": "gw", "role": "submit", "sha256": token_hash(token)})
    path.write_text("[" + entry[:-1] + ', "role": "admin"}]')

    with pytest.raises(TokensFileError) as caught:
        TokenRegistry.load(path)

    assert str(caught.value) == f"{path}: the name 'role' is given twice in one object"


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ('name = "ana"\nroles = ["review"]\nsha256 = "abc"', "field 'sha256' must be"),
        # A hash and a newline (a copy with its line end) never matched any token: a silent 401.
        ('name = "ana"\nroles = ["review"]\nsha256 = "' + "0" * 64 + '\\n"', "field 'sha256'"),
        ('name = "a b"\nroles = ["review"]\nsha256 = "' + "0" * 64 + '"', "field 'name'"),
        ('name = "ana"\nroles = ["boss"]\nsha256 = "' + "0" * 64 + '"', "field 'roles' must hold"),
        ('name = "ana"\nroles = []\nsha256 = "' + "0" * 64 + '"', "at least one role"),
        ('name = "ana"\nroles = ["review"]\ntoken = "tka_x"', "unknown field(s) token"),
        (
            'name = "web"\nroles = ["submit"]\nid_prefix = "WEB 1"\nsha256 = "' + "0" * 64 + '"',
            "field 'id_prefix' must be the start of a ticket id",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_the_file_the_entry_and_the_field(
    tmp_path: Path, entry: str, fragment: str
) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(f"[[token]]\n{entry}\n")
    with pytest.raises(TokensFileError) as caught:
        TokenRegistry.load(path)
    assert str(caught.value).startswith(f"{path}: token 1")
    assert fragment in str(caught.value)


def test_the_same_name_or_token_twice_is_refused(tmp_path: Path) -> None:
    token = new_token()
    path = tmp_path / "tokens.toml"
    path.write_text(token_entry("ana", [Role.REVIEW], token) * 2)
    with pytest.raises(TokensFileError, match="token 2: the name 'ana' is given twice"):
        TokenRegistry.load(path)
    path.write_text(
        token_entry("ana", [Role.REVIEW], token) + token_entry("bo", [Role.ADMIN], token)
    )
    with pytest.raises(TokensFileError, match="the same token is listed twice"):
        TokenRegistry.load(path)


def test_a_missing_or_malformed_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(TokensFileError, match="cannot read the tokens file"):
        TokenRegistry.load(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[token]\n")
    with pytest.raises(TokensFileError, match=r"broken\.toml: not valid TOML"):
        TokenRegistry.load(broken)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_a_token_may_be_held_to_ids_starting_with_its_prefix(tmp_path: Path, suffix: str) -> None:
    # `token create --id-prefix` writes it; the intake refuses other ids of its own
    # (tests/api/test_intake_id_prefix.py).
    from api.accounts import append_token

    web, desk = new_token(), new_token()
    path = tmp_path / f"tokens{suffix}"
    append_token(path, "web-form", [Role.SUBMIT], web, "WEB-")
    append_token(path, "helpdesk", [Role.SUBMIT], desk)

    registry = TokenRegistry.load(path)

    assert registry.find(web) == Account("web-form", frozenset({Role.SUBMIT}), "WEB-")
    assert registry.find(desk) == Account("helpdesk", frozenset({Role.SUBMIT}))
