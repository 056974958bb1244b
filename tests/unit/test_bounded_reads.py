"""Files a user names are read up to their limit, not whole: /dev/zero (which reports a size of
0), a FIFO or a file of gigabytes is refused with the limit said, before memory runs out. Before,
`review --edit /dev/zero` and `serve --tokens-file /dev/zero` read until the process died, and a
configuration file of any size was read and parsed."""

import argparse
from pathlib import Path

import pytest

from api.accounts import MAX_TOKENS_FILE_BYTES, TokenRegistry, TokensFileError
from shared.bounded_read import TooLarge, read_text_at_most
from shared.encryption.keyring import MAX_KEY_FILE_BYTES, read_key_file
from shared.settings import MAX_CONFIG_FILE_BYTES, ConfigError, load_settings
from starter.errors import CliError
from starter.review_command import MAX_EDIT_FILE_BYTES, _decision

ENDLESS = Path("/dev/zero")


def test_a_file_is_read_up_to_its_limit_and_refused_past_it(tmp_path: Path) -> None:
    exact = tmp_path / "exact.txt"
    exact.write_text("x" * 10)
    assert read_text_at_most(exact, 10) == "x" * 10
    with pytest.raises(TooLarge, match="larger than 9 bytes"):
        read_text_at_most(exact, 9)
    with pytest.raises(TooLarge):
        read_text_at_most(ENDLESS, 1024)


def test_an_endless_configuration_file_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"larger than {MAX_CONFIG_FILE_BYTES:,} bytes"):
        load_settings(ENDLESS, env={})


def test_an_endless_tokens_file_is_refused() -> None:
    with pytest.raises(TokensFileError, match=f"larger than {MAX_TOKENS_FILE_BYTES:,} bytes"):
        TokenRegistry.load(ENDLESS)


def test_an_endless_key_file_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"larger than {MAX_KEY_FILE_BYTES:,} bytes"):
        read_key_file(ENDLESS)


def test_an_endless_edited_reply_is_refused_naming_the_reply_s_limit(tmp_path: Path) -> None:
    args = argparse.Namespace(
        reviewer="cli",
        revision=None,
        chain=None,
        no_draft=False,
        waiting_since=None,
        approve=False,
        edit=str(ENDLESS),
        rework=None,
        reject=None,
    )
    with pytest.raises(CliError, match=f"larger than {MAX_EDIT_FILE_BYTES:,} bytes"):
        _decision(args)
    reply = tmp_path / "reply.txt"
    reply.write_text("Thanks, fixed.")
    args.edit = str(reply)
    assert _decision(args).edited_text == "Thanks, fixed."
