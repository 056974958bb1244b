"""Payloads are encrypted with the current key of a key ring; any key in the ring decrypts; what
was written before encryption still reads; keys never appear in a message."""

import asyncio
import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from shared.data_converter import data_converter, describe_encryption
from shared.encryption.codec import (
    ENCODING,
    IN_THREAD_BYTES,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadDecryptionError,
    UnknownEncryptionKey,
)
from shared.encryption.keyring import (
    KEY_FILE_NAME,
    ConfigError,
    ensure_local_key_file,
    load_key_ring,
    parse_key_ring,
)
from tests.support.keys import derived_key, key_ring_json, make_key_ring

SECRET = "Jane Roe, order 4711, jane@example.com"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"TICKETS_DATA_DIR": str(tmp_path), **extra}


async def test_a_payload_is_encrypted_under_the_current_key_and_decrypts_back() -> None:
    converter = data_converter(env={}, key_ring=make_key_ring("k1"))
    [payload] = await converter.encode([{"body": SECRET}])
    assert payload.metadata["encoding"] == ENCODING
    assert payload.metadata[KEY_ID_METADATA] == b"k1"
    assert SECRET.encode() not in payload.SerializeToString()
    assert await converter.decode([payload], [dict]) == [{"body": SECRET}]


async def test_a_payload_of_megabytes_is_encrypted_off_the_event_loop_and_decrypts_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # temporalio runs the codec on the worker's event loop: 127 MiB held it 265 ms.
    codec = EncryptionCodec(make_key_ring("k1"))
    big = Payload(metadata={"encoding": b"binary/plain"}, data=b"x" * (IN_THREAD_BYTES + 1))
    small = Payload(metadata={"encoding": b"binary/plain"}, data=b"y")
    threaded: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counting(function: Any, *args: Any) -> Any:
        threaded.append(args[0].data[:1] if args else None)
        return await real_to_thread(function, *args)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    encoded = await codec.encode([big, small])
    decoded = await codec.decode(encoded)

    assert decoded == [big, small]
    assert len(threaded) == 2  # the big one each way, the small one never


async def test_after_rotation_new_payloads_use_the_new_key_and_old_ones_still_read() -> None:
    old = data_converter(env={}, key_ring=make_key_ring("k1"))
    rotated = data_converter(env={}, key_ring=make_key_ring("k2", "k1"))
    [before] = await old.encode([SECRET])
    [after] = await rotated.encode([SECRET])
    assert after.metadata[KEY_ID_METADATA] == b"k2"
    assert await rotated.decode([before, after], [str, str]) == [SECRET, SECRET]


async def test_a_payload_under_a_retired_key_fails_naming_the_key_id_and_never_a_key() -> None:
    [payload] = await data_converter(env={}, key_ring=make_key_ring("k1")).encode([SECRET])
    retired = data_converter(env={}, key_ring=make_key_ring("k2"))
    with pytest.raises(UnknownEncryptionKey, match="encrypted with key 'k1'") as caught:
        await retired.decode([payload], [str])
    message = str(caught.value)
    for key_id in ("k1", "k2"):
        assert base64.b64encode(derived_key(key_id)).decode() not in message


async def test_a_process_without_a_ring_says_so_on_an_encrypted_payload_and_reads_plain_ones() -> (
    None
):
    """It failed with the payload converter's KeyError "Unknown payload encoding
    binary/encrypted", which the CLI called an unexpected error (a CLI run from a directory
    other than the one whose data/ holds the ring)."""
    [payload] = await data_converter(env={}, key_ring=make_key_ring("k1")).encode([SECRET])
    without = data_converter(env={}, key_ring=None)
    with pytest.raises(UnknownEncryptionKey, match="encrypted with key 'k1' and this process has"):
        await without.decode([payload], [str])
    [plain] = await without.encode([SECRET])
    assert plain.metadata["encoding"] != ENCODING
    assert await without.decode([plain], [str]) == [SECRET]


async def test_a_payload_relabelled_or_altered_does_not_decrypt() -> None:
    codec = EncryptionCodec(make_key_ring("k1", "k2"))
    [payload] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"1")])
    relabelled = Payload()
    relabelled.CopyFrom(payload)
    relabelled.metadata[KEY_ID_METADATA] = b"k2"
    altered = Payload()
    altered.CopyFrom(payload)
    altered.data = payload.data[:-1] + bytes([payload.data[-1] ^ 1])
    for bad in (relabelled, altered):
        with pytest.raises(PayloadDecryptionError, match="does not authenticate"):
            await codec.decode([bad])
    cut = Payload()
    cut.CopyFrom(payload)
    cut.data = payload.data[:5]  # shorter than a nonce: AES-GCM's own error named no payload
    with pytest.raises(PayloadDecryptionError, match="5 bytes, shorter than a nonce and a tag"):
        await codec.decode([cut])


async def test_payloads_written_before_encryption_pass_through(tmp_path: Path) -> None:
    [plain] = await data_converter(env=env(tmp_path)).encode([SECRET])
    assert plain.metadata["encoding"] == b"json/plain"
    encrypting = data_converter(env=env(tmp_path), key_ring=make_key_ring("k1"))
    assert await encrypting.decode([plain], [str]) == [SECRET]


async def test_an_offloaded_payload_is_stored_encrypted(tmp_path: Path) -> None:
    """The SDK runs the codec before external storage: the store only ever sees ciphertext."""
    converter = data_converter(
        env=env(tmp_path, TICKETS_PAYLOAD_OFFLOAD_BYTES="1000"), key_ring=make_key_ring("k1")
    )
    long_text = f"{SECRET} " * 500
    [reference] = await converter.encode([long_text])
    assert reference.metadata.get("messageType") == b"temporal.api.sdk.v1.ExternalStorageReference"
    stored = [
        p for p in (tmp_path / "payloads").rglob("*") if p.is_file() and "owners" not in p.parts
    ]
    assert len(stored) == 1
    assert b"jane@example.com" not in stored[0].read_bytes()
    assert Payload.FromString(stored[0].read_bytes()).metadata[KEY_ID_METADATA] == b"k1"
    assert await converter.decode([reference], [str]) == [long_text]


async def test_a_failure_message_and_stack_trace_are_encrypted_too() -> None:
    converter = data_converter(env={}, key_ring=make_key_ring("k1"))
    try:
        raise ApplicationError(f"cannot refund {SECRET}", type="Refund")
    except ApplicationError as err:
        failure = Failure()
        await converter.encode_failure(err, failure)
    assert SECRET.encode() not in failure.SerializeToString()
    assert failure.message == "Encoded failure"
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and SECRET in decoded.message


def test_the_key_ring_comes_from_the_variable_then_the_key_file_then_the_data_directory(
    tmp_path: Path,
) -> None:
    assert load_key_ring(env(tmp_path)) is None
    (tmp_path / KEY_FILE_NAME).write_text(key_ring_json("local"))
    other = tmp_path / "other.json"
    other.write_text(key_ring_json("from-file"))
    assert load_key_ring(env(tmp_path)).current == "local"  # type: ignore[union-attr]
    with_file = env(tmp_path, TICKETS_ENCRYPTION_KEY_FILE=str(other))
    assert load_key_ring(with_file).current == "from-file"  # type: ignore[union-attr]
    with_both = {**with_file, "TICKETS_ENCRYPTION_KEYS": key_ring_json("from-env")}
    assert load_key_ring(with_both).current == "from-env"  # type: ignore[union-attr]


def test_a_key_file_others_can_read_is_loaded_with_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A ring made by hand ("python -c ... > keys.json") gets the umask's 0644, and was loaded
    # silently (a review, 2026-12-07); the file make run creates is 0600.
    shared, private = tmp_path / "shared.json", tmp_path / "private.json"
    for path, mode in ((shared, 0o644), (private, 0o600)):
        path.write_text(key_ring_json("k1"))
        path.chmod(mode)

    with caplog.at_level("WARNING", logger="shared.encryption.keyring"):
        assert load_key_ring(env(tmp_path, TICKETS_ENCRYPTION_KEY_FILE=str(private))) is not None
    assert not caplog.records
    with caplog.at_level("WARNING", logger="shared.encryption.keyring"):
        assert load_key_ring(env(tmp_path, TICKETS_ENCRYPTION_KEY_FILE=str(shared))) is not None
    (record,) = caplog.records
    assert str(shared) in record.getMessage() and "0644" in record.getMessage()
    assert "chmod 600" in record.getMessage()
    # Once per file and process (a worker reads its ring more than once as it starts).
    with caplog.at_level("WARNING", logger="shared.encryption.keyring"):
        load_key_ring(env(tmp_path, TICKETS_ENCRYPTION_KEY_FILE=str(shared)))
    assert len(caplog.records) == 1


@pytest.mark.parametrize(
    ("ring", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('{"current": "k1"}', 'non-empty "keys"'),
        ('{"current": "k9", "keys": {"k1": "%s"}}', '"current" must name one of the keys (k1)'),
        ('{"current": "k1", "keys": {"k1": "%s"}, "extra": 1}', 'unknown field(s): "extra"'),
        # A key pasted one level too high is not repeated.
        ('{"current": "k1", "keys": {"k1": "%s"}, "%s": 1}', "unknown field(s): one of 44 char"),
        ("[" * 50_000, "nests too deeply to be a key ring"),
        ('{"current": "k1", "keys": {"k1": "c2hvcnQ="}}', "key k1 is 5 bytes; AES-256 needs 32"),
        ('{"current": "k1", "keys": {"k1": "not base64!"}}', "key k1 is not valid base64"),
        ('{"current": "bad id", "keys": {"bad id": "%s"}}', "a key id must be"),
    ],
)
def test_a_bad_key_ring_is_one_sentence_naming_the_source_and_never_the_key(
    ring: str, problem: str
) -> None:
    material = base64.b64encode(derived_key("k1")).decode()
    text = ring.replace("%s", material)
    with pytest.raises(ConfigError) as caught:
        parse_key_ring(text, "TICKETS_ENCRYPTION_KEYS")
    assert problem in str(caught.value)
    assert str(caught.value).startswith("TICKETS_ENCRYPTION_KEYS")
    assert material not in str(caught.value)


@pytest.mark.parametrize(
    ("ring", "problem"),
    [
        # A key written as hex (openssl rand -hex 32) or as base64 without its padding is a
        # valid key id too: pasted where the id belongs (the two swapped), or a level too high,
        # or twice, it was printed whole.
        ('{"current": "k1", "keys": {"%h": "k1"}}', "the key whose id has 64 characters (is a key"),
        ('{"current": "k1", "keys": {"%u": "k1"}}', "the key whose id has 43 characters (is a key"),
        ('{"current": "k1", "keys": {"k1": "%s"}, "%h": 1}', "unknown field(s): one of 64"),
        ('{"current": "k1", "keys": {"%h": "%s", "%h": "%s"}}', "a name of 64 characters is"),
        ('{"current": "k1", "keys": {"%h": "%s"}}', "one of the keys (a key id of 64 characters)"),
    ],
)
def test_a_key_where_an_id_belongs_is_never_printed(ring: str, problem: str) -> None:
    key = derived_key("k1")
    # Base64 without its padding, letters and digits only, as about one key in four is.
    unpadded = next(
        encoded
        for n in range(1000)
        if (encoded := base64.b64encode(derived_key(f"k{n}")).decode().rstrip("=")).isalnum()
    )
    text = (
        ring.replace("%s", base64.b64encode(key).decode())
        .replace("%h", key.hex())
        .replace("%u", unpadded)
    )
    with pytest.raises(ConfigError) as caught:
        parse_key_ring(text, "TICKETS_ENCRYPTION_KEYS")
    assert problem in str(caught.value)
    assert key.hex() not in str(caught.value) and unpadded not in str(caught.value)


def test_make_run_creates_one_owner_only_key_file_and_keeps_it(tmp_path: Path) -> None:
    created = ensure_local_key_file(env(tmp_path))
    assert created == tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(os.stat(created).st_mode) == 0o600
    first = created.read_text()
    assert ensure_local_key_file(env(tmp_path)) is None  # never replaced
    assert created.read_text() == first
    ring = load_key_ring(env(tmp_path))
    assert ring is not None and len(ring.keys[ring.current]) == 32
    assert set(json.loads(first)) == {"current", "keys"}


def test_no_key_file_is_created_when_keys_are_configured_elsewhere(tmp_path: Path) -> None:
    assert ensure_local_key_file(env(tmp_path, TICKETS_ENCRYPTION_KEYS=key_ring_json("c"))) is None
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_what_the_worker_prints_names_key_ids_never_keys() -> None:
    line = describe_encryption(data_converter(env={}, key_ring=make_key_ring("k2", "k1")))
    assert line == (
        "payload encryption AES-256-GCM, current key k2 from the test key ring; "
        "also decrypts with k1"
    )
    assert "OFF" in describe_encryption(data_converter(env={}, key_ring=None))


def test_the_key_file_appears_only_once_written_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was created empty and written after: a second process starting at once lost the
    race, read the empty file and stopped with "not valid JSON (line 1, column 1)"."""
    from shared.encryption import keyring

    target = tmp_path / KEY_FILE_NAME
    seen_while_writing: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # the key's bytes (not the directory's entries)
            seen_while_writing.append(target.exists())
        real_fsync(fd)

    monkeypatch.setattr(keyring.os, "fsync", fsync)
    created = ensure_local_key_file(env(tmp_path))

    assert seen_while_writing == [False]
    assert created == target and load_key_ring(env(tmp_path)) is not None
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]  # no temporary file left
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


async def test_only_a_bare_none_passes_the_codec_in_plain_text() -> None:
    # The payload collection's scheduled runs return None: the server hands each run the last
    # one's result, and an encrypted one needed a key retired since (shared/encryption/codec.py).
    from temporalio.api.common.v1 import Payload

    from shared.encryption.codec import NULL_ENCODING, EncryptionCodec

    codec = EncryptionCodec(make_key_ring("k1"))
    bare = Payload(metadata={"encoding": NULL_ENCODING})
    with_data = Payload(metadata={"encoding": NULL_ENCODING}, data=b"not null")
    with_more = Payload(metadata={"encoding": NULL_ENCODING, "note": b"plain text"})

    encoded = await codec.encode([bare, with_data, with_more])

    assert encoded[0] == bare
    assert [p.metadata["encoding"] for p in encoded[1:]] == [ENCODING, ENCODING]
    assert await codec.decode(encoded) == [bare, with_data, with_more]
