"""A key ring's JSON names each key id once (shared/encryption/keyring.py): a JSON reader keeps
the last of two members with one name, so a new key pasted under an old key's id would replace
that key without a word, and payloads encrypted with the old one would stop decrypting."""

import base64
import os

import pytest

from shared.encryption.keyring import load_key_ring, parse_key_ring
from shared.settings import ConfigError


def encoded_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_a_key_id_listed_twice_is_refused_by_name_without_either_key() -> None:
    old, new = encoded_key(), encoded_key()
    text = f'{{"current": "k1", "keys": {{"k1": "{old}", "k2": "{encoded_key()}", "k1": "{new}"}}}}'

    with pytest.raises(ConfigError, match='the ring: "k1" is listed twice') as caught:
        parse_key_ring(text, "the ring")

    assert old not in str(caught.value) and new not in str(caught.value)


def test_the_variable_a_repeated_id_came_from_is_named() -> None:
    key = encoded_key()
    env = {"TICKETS_ENCRYPTION_KEYS": f'{{"current": "a", "keys": {{"a": "{key}", "a": "{key}"}}}}'}

    with pytest.raises(ConfigError, match='TICKETS_ENCRYPTION_KEYS: "a" is listed twice'):
        load_key_ring(env)


def test_a_repeated_field_is_refused_too_and_a_name_that_is_no_id_is_not_printed() -> None:
    key = encoded_key()
    with pytest.raises(ConfigError, match='"current" is listed twice'):
        parse_key_ring(f'{{"current": "k1", "current": "k2", "keys": {{"k1": "{key}"}}}}', "r")
    with pytest.raises(ConfigError, match="a name of 44 characters is listed twice") as caught:
        parse_key_ring(f'{{"current": "k1", "keys": {{"{key}": 1, "{key}": 2}}}}', "r")
    assert key not in str(caught.value)


def test_a_ring_with_distinct_ids_still_reads() -> None:
    ring = parse_key_ring(
        f'{{"current": "k2", "keys": {{"k1": "{encoded_key()}", "k2": "{encoded_key()}"}}}}', "r"
    )

    assert ring.key_ids == ["k1", "k2"] and ring.current == "k2"
