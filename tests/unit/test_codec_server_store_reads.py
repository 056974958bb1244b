"""What one decode request may make the codec server read from the payload stores: one byte
budget for external-storage references and the old claim-check codec's references alike, and no
more fetching once the store has failed or the request's time is up."""

import base64
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import StorageDriverClaim, StorageDriverRetrieveContext

from codec_server import payloads as codec_payloads
from codec_server.app import build_app
from codec_server.settings import CodecServerSettings
from shared.data_converter import LEGACY_ENCODING, data_converter
from shared.payload_store import FileStore
from shared.stores.errors import StoreUnavailable
from shared.stores.payloads_file import DRIVER_NAME, FilePayloadDriver
from tests.unit.test_codec_server_limits import RING, body, serving

BIG = 50_000  # characters in each stored value


async def old_claim_check(tmp_path: Path, text: str) -> Payload:
    """A reference as the claim-check codec of before wrote it, its payload in the data
    directory's payloads/<2>/<sha256>."""
    original = (await data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)}).encode([text]))[0]
    data = original.SerializeToString()
    key = hashlib.sha256(data).hexdigest()
    await FileStore(tmp_path / "payloads").put(key, data)
    return Payload(
        metadata={"encoding": LEGACY_ENCODING, "claim-check-key": key.encode()},
        data=f"{len(data)} bytes in the payload store".encode(),
    )


def answered(response: httpx.Response) -> list[dict[str, object]]:
    assert response.status_code == 200, response.text
    payloads: list[dict[str, object]] = response.json()["payloads"]
    return payloads


def resolved(payload: dict[str, object]) -> bool:
    """A payload brought back whole (its data is the stored value, not a reference)."""
    return len(str(payload.get("data", ""))) > BIG


async def test_old_claim_checks_spend_the_requests_byte_budget_with_the_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same old claim check sent many times was read and answered every time: a request of
    a few kilobytes came back as hundreds of megabytes."""
    converter = data_converter(
        env={"TICKETS_DATA_DIR": str(tmp_path), "TICKETS_PAYLOAD_OFFLOAD_BYTES": "1000"},
        key_ring=RING,
    )
    [reference] = await converter.encode(["r" * BIG])
    old = await old_claim_check(tmp_path, "o" * BIG)
    # Room for three stored values of the six asked for: the reference's, then two old ones.
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", int(3.5 * BIG))
    app = build_app(converter, CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
        payloads = answered(await http.post(f"{url}/decode", json=body(reference, *[old] * 5)))

    assert [resolved(p) for p in payloads] == [True, True, True, False, False, False]
    assert payloads[3]["metadata"] == body(old)["payloads"][0]["metadata"]  # as stored


async def test_an_old_claim_check_over_the_budget_left_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its file was read and hashed whole whenever any budget was left, then dropped: a request
    with a byte of budget left and a 127 MiB old claim read all of it. Its size on disk is
    checked first now, as the drivers' references are."""
    converter = data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)}, key_ring=RING)
    # Under the offload threshold (128 KiB), so the old claim holds the value itself.
    large = await old_claim_check(tmp_path, "o" * 120_000)
    small = await old_claim_check(tmp_path, "s" * (BIG + 10))
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", int(1.5 * BIG))
    reads: list[str] = []
    real = FileStore._get

    def counted(self: FileStore, key: str) -> bytes:
        reads.append(key)
        return real(self, key)

    monkeypatch.setattr(FileStore, "_get", counted)
    app = build_app(converter, CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
        payloads = answered(await http.post(f"{url}/decode", json=body(large, small)))

    assert [resolved(p) for p in payloads] == [False, True]
    assert reads == [small.metadata["claim-check-key"].decode()]


class FakeFailingDriver(FilePayloadDriver):
    """A fake: the file store, whose reads fail as a database that stopped answering does once
    ``down`` (each read then cost a 5 s connection attempt); counts the reads asked of it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = False
        self.reads = 0

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        self.reads += 1
        if self.down:
            raise StoreUnavailable("the payload database did not answer within 5 s")
        return await super().retrieve(context, claims)


async def references(tmp_path: Path, n: int) -> tuple[FakeFailingDriver, object, list[Payload]]:
    driver = FakeFailingDriver(tmp_path / "payloads")
    converter = data_converter(
        driver, threshold=1000, env={"TICKETS_DATA_DIR": str(tmp_path)}, key_ring=RING
    )
    stored = await converter.encode([f"{i}" * BIG for i in range(n)])
    return driver, converter, stored


async def test_once_the_store_fails_a_request_fetches_no_more_of_its_references(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    driver, converter, stored = await references(tmp_path, 3)
    driver.down = True
    app = build_app(converter, CodecServerSettings())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="codec_server"):
        async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
            payloads = answered(await http.post(f"{url}/decode", json=body(*stored)))

    assert driver.reads == 1
    assert not any(resolved(p) for p in payloads) and len(payloads) == 3
    lines = [r.getMessage() for r in caplog.records if r.name == "codec_server"]
    assert any(
        line.startswith("1 of 3 payload(s) in a request could not be resolved") for line in lines
    )
    assert any(line.startswith("2 of 3 payload(s) in a request were not fetched") for line in lines)


async def test_a_missing_payload_does_not_stop_the_others_being_fetched(tmp_path: Path) -> None:
    driver, converter, stored = await references(tmp_path, 3)
    for path in (tmp_path / "payloads").rglob("*"):
        if path.is_file() and path.stat().st_size > BIG:  # the first value's file, say
            path.unlink()
            break
    payloads = await codec_payloads.resolve_references(converter, stored)  # type: ignore[arg-type]

    assert driver.reads == 3
    assert sum(p is not s for p, s in zip(payloads, stored, strict=True)) == 2


async def test_past_its_time_a_request_fetches_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver, converter, stored = await references(tmp_path, 2)
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVE_SECONDS", -1.0)
    payloads = await codec_payloads.resolve_references(converter, stored)  # type: ignore[arg-type]

    assert driver.reads == 0
    assert payloads == stored


async def test_a_reference_that_does_not_read_is_not_taken_for_a_failed_store(
    tmp_path: Path,
) -> None:
    """A reference naming a driver this server lacks (or malformed): the SDK says so with a
    ValueError, about that payload; the others are fetched as usual."""
    driver, converter, stored = await references(tmp_path, 3)
    foreign = Payload()
    foreign.CopyFrom(stored[0])
    foreign.data = stored[0].data.replace(DRIVER_NAME.encode(), b"no-such-driver")
    assert foreign.data != stored[0].data

    payloads = await codec_payloads.resolve_references(converter, [foreign, *stored[1:]])  # type: ignore[arg-type]

    assert payloads[0] is foreign
    assert driver.reads == 2 and all(
        p is not s for p, s in zip(payloads[1:], stored[1:], strict=True)
    )


async def test_an_old_claim_check_that_was_encrypted_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old claim checks were never encrypted. One sent through /encode came back encrypted, and
    decoding it read the file with no limit and no charge to the request's budget: thousands of
    copies in one request read thousands of files into the answer."""
    converter = data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)}, key_ring=RING)
    old = await old_claim_check(tmp_path, "o" * BIG)
    codec = converter.payload_codec
    assert codec is not None
    [wrapped] = await codec.encode([old])  # what POST /encode answers
    monkeypatch.setattr(codec_payloads, "MAX_RESOLVED_BYTES", int(2.5 * BIG))
    app = build_app(converter, CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
        payloads = answered(await http.post(f"{url}/decode", json=body(*[wrapped] * 5, old)))

    assert [resolved(p) for p in payloads] == [False] * 5 + [True]


async def test_the_web_ui_keeps_references_on_its_history_page_and_downloads_the_one_opened(
    tmp_path: Path,
) -> None:
    """Temporal's codec protocol with external storage: the history page decodes with
    ?preserveStorageRefs=true (every stored value fetched for it was wasted) and fetches the one
    a user opens from /download, which answered 404."""
    converter = data_converter(
        env={"TICKETS_DATA_DIR": str(tmp_path), "TICKETS_PAYLOAD_OFFLOAD_BYTES": "1000"},
        key_ring=RING,
    )
    [reference, inline] = await converter.encode(["r" * BIG, "small"])
    app = build_app(converter, CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
        kept = answered(
            await http.post(f"{url}/decode?preserveStorageRefs=true", json=body(reference, inline))
        )
        opened = answered(await http.post(f"{url}/default/download", json=body(reference)))
        not_a_reference = await http.post(f"{url}/download", json=body(inline))

    assert not resolved(kept[0]) and kept[0].get("externalPayloads")
    assert base64.b64decode(str(kept[1]["data"])) == b'"small"'  # decoded all the same
    assert resolved(opened[0])
    assert not_a_reference.status_code == 400
    assert "all payloads must be storage references" in not_a_reference.json()["error"]


async def test_a_download_the_store_cannot_answer_is_an_error_not_the_reference_again(
    tmp_path: Path,
) -> None:
    converter = data_converter(
        env={"TICKETS_DATA_DIR": str(tmp_path), "TICKETS_PAYLOAD_OFFLOAD_BYTES": "1000"},
        key_ring=RING,
    )
    [reference] = await converter.encode(["r" * BIG])
    for stored in (tmp_path / "payloads").rglob("*"):
        if stored.is_file():
            stored.unlink()
    app = build_app(converter, CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(f"{url}/download", json=body(reference))

    assert answer.status_code == 502, answer.text
    assert "1 of 1 references could not be fetched" in answer.json()["error"]
