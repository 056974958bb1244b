"""What one request may cost the codec server (codec_server/app.py, codec_server/payloads.py),
served by uvicorn in the test process: a bounded number of payloads, the work off the event loop
(so /health and everybody else's requests are answered meanwhile), a bounded number of
requests worked on at once, a compact answer, and one log line per request for its troubles."""

import asyncio
import contextlib
import json
import logging
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter, PayloadCodec

from codec_server.app import NOT_PAYLOADS, Refused, build_app, parse_payloads
from codec_server.settings import (
    MAX_BODY_BYTES,
    MAX_EXTERNAL_REFERENCES,
    MAX_METADATA_ENTRIES,
    MAX_PAYLOADS,
    CodecServerSettings,
)
from shared.data_converter import data_converter
from shared.encryption.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec
from shared.encryption.keyring import KeyRing
from tests.support.api_server import served

RING = KeyRing(current="k1", keys={"k1": os.urandom(32)})
CODEC = EncryptionCodec(RING)
# How long the blocking codec below waits to be let go before it gives up (and the test fails).
RELEASE_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url


class HeldCodecFake(PayloadCodec):
    """The encryption codec, recording the threads it runs in; with ``hold`` set, each call
    waits until the test lets it go (``entered`` says one is waiting)."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.threads: list[int] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.released_in_time: list[bool] = []
        self.running = self.most_at_once = 0
        self._lock = threading.Lock()

    def _call(self) -> None:
        self.threads.append(threading.get_ident())
        if not self.hold:
            return
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.entered.set()
        self.released_in_time.append(self.release.wait(RELEASE_TIMEOUT))
        with self._lock:
            self.running -= 1

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._call()
        return await CODEC.encode(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        self._call()
        return await CODEC.decode(payloads)


def body(*payloads: Payload) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=list(payloads)))


def sealed(text: str) -> Payload:
    return CODEC.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


async def test_more_payloads_than_the_limit_are_refused_naming_the_count_and_the_limit() -> None:
    app = build_app(DataConverter(payload_codec=CODEC), CodecServerSettings())
    empty = Payload()
    async with serving(app) as url, httpx.AsyncClient(timeout=30) as http:
        too_many = await http.post(f"{url}/encode", json=body(*[empty] * (MAX_PAYLOADS + 1)))
        as_many = await http.post(f"{url}/encode", json=body(*[empty] * MAX_PAYLOADS))

    assert too_many.status_code == 413
    assert f"{MAX_PAYLOADS + 1:,} payloads" in too_many.json()["error"]
    assert f"at most {MAX_PAYLOADS:,}" in too_many.json()["error"]
    assert as_many.status_code == 200 and len(as_many.json()["payloads"]) == MAX_PAYLOADS


async def test_a_payload_with_a_crowd_of_metadata_or_references_is_refused_too() -> None:
    # One payload of a million metadata entries (or external references) cost as much as a
    # million payloads: the count of payloads alone bounded nothing.
    app = build_app(DataConverter(payload_codec=CODEC), CodecServerSettings())
    crowded = {"metadata": {f"k{n}": "eA==" for n in range(MAX_METADATA_ENTRIES + 1)}}
    referring = {"externalPayloads": [{}] * (MAX_EXTERNAL_REFERENCES + 1)}
    # The proto's own spelling, which json_format reads too, went uncounted; and split over both.
    snake = {"external_payloads": [{}] * (MAX_EXTERNAL_REFERENCES + 1)}
    half = (MAX_EXTERNAL_REFERENCES + 2) // 2
    split = {"externalPayloads": [{}] * half, "external_payloads": [{}] * half}
    shapes = (crowded, referring, {"data": "eA==", "extra": 1}, ["not", "one"], snake, split)
    async with serving(app) as url, httpx.AsyncClient(timeout=30) as http:
        answers = [
            await http.post(f"{url}/decode", json={"payloads": [{}, shape]}) for shape in shapes
        ]

    assert [a.status_code for a in answers] == [413, 413, 400, 400, 413, 413]
    assert f"payload 1 has {MAX_METADATA_ENTRIES + 1} metadata entries" in answers[0].text
    assert f"{MAX_EXTERNAL_REFERENCES + 1} external references" in answers[1].text
    assert "payload 1 has the member 'extra', which a payload has not" in answers[2].text


async def test_the_codecs_run_off_the_event_loop_which_answers_health_meanwhile() -> None:
    codec = HeldCodecFake(hold=True)
    app = build_app(DataConverter(payload_codec=codec), CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=30) as http:
        decoding = asyncio.create_task(http.post(f"{url}/decode", json=body(sealed("hi"))))
        assert await asyncio.to_thread(codec.entered.wait, RELEASE_TIMEOUT)
        health = await http.get(f"{url}/health")
        codec.release.set()
        decoded = await decoding
        encoded = await http.post(f"{url}/encode", json=body(Payload(data=b"x")))

    assert health.status_code == 200
    assert codec.released_in_time == [True, True]  # /health did not wait for the codec
    assert (decoded.status_code, encoded.status_code) == (200, 200)
    assert threading.get_ident() not in codec.threads  # this test's loop is the server's


async def test_requests_past_the_ones_in_progress_wait_and_past_the_waiting_ones_get_503() -> None:
    codec = HeldCodecFake(hold=True)
    app = build_app(DataConverter(payload_codec=codec), CodecServerSettings(), at_once=1, waiting=1)
    async with serving(app) as url, httpx.AsyncClient(timeout=30) as http:
        first = asyncio.create_task(http.post(f"{url}/decode", json=body(sealed("one"))))
        assert await asyncio.to_thread(codec.entered.wait, RELEASE_TIMEOUT)
        # One of these two waits its turn, the other finds the queue full: refused at once,
        # while the first is still held in the codec.
        others = [
            asyncio.create_task(http.post(f"{url}/decode", json=body(sealed(text))))
            for text in ("two", "three")
        ]
        done, pending = await asyncio.wait(
            others, timeout=RELEASE_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        held_meanwhile = not first.done()
        codec.release.set()
        answers = await asyncio.gather(first, *pending)

    [refused] = [task.result() for task in done]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "busy (1 requests in progress and 1 waiting)" in refused.json()["error"]
    assert held_meanwhile
    assert [a.status_code for a in answers] == [200, 200]
    assert codec.most_at_once == 1 and codec.released_in_time == [True, True]


async def test_the_answer_is_written_without_indentation() -> None:
    app = build_app(DataConverter(payload_codec=CODEC), CodecServerSettings())
    async with serving(app) as url, httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(f"{url}/decode", json=body(sealed("a"), sealed("b")))

    assert answer.status_code == 200
    assert b"\n" not in answer.content and b": " not in answer.content
    assert answer.content.startswith(b'{"payloads":[{"metadata":')


async def test_a_requests_unresolvable_references_and_unreadable_payloads_are_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Forged references (to payloads the store does not hold) and payloads under an unknown key:
    counted, with the first error, never a line each."""
    converter = data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)}, key_ring=RING)
    [reference] = await converter.encode(["x" * 300_000])  # over the offload threshold: stored
    digest = reference.data.split(b'"sha256":"')[1][:64]
    forged = []
    for i in range(300):
        payload = Payload()
        payload.CopyFrom(reference)
        payload.data = reference.data.replace(digest, f"{i:064x}".encode())
        forged.append(payload)
    unknown_key = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k9"}, data=b"x" * 40)
    app = build_app(converter, CodecServerSettings())
    with caplog.at_level(logging.WARNING, logger="codec_server"):
        async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
            answer = await http.post(f"{url}/decode", json=body(*forged, *[unknown_key] * 300))

    assert answer.status_code == 200 and len(answer.json()["payloads"]) == 600
    lines = [r.getMessage() for r in caplog.records if r.name == "codec_server"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("300 of 600 payload(s) in a request could not be resolved")
    assert "PayloadMissing" in lines[0]
    assert lines[1].startswith("300 of 600 payload(s) in a request were left encoded")
    assert "k9" in lines[1]


async def test_a_reference_s_text_quoted_in_an_error_cannot_write_a_line_of_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The SDK's error for an unknown driver quotes the name the request sent: a line break in
    it wrote a second line, shaped as an audit line, into the log the audit lines go to."""
    converter = data_converter(env={"TICKETS_DATA_DIR": str(tmp_path)}, key_ring=RING)
    [reference] = await converter.encode(["x" * 300_000])
    forged = Payload()
    forged.CopyFrom(reference)
    fake_audit = "codec server: audit: decode of 1 payload(s) for namespace default by user admin"
    forged.data = reference.data.replace(
        b'"driverName":"files"', b'"driverName":"x\\n' + fake_audit.encode() + b'"'
    )
    app = build_app(converter, CodecServerSettings())
    with caplog.at_level(logging.WARNING, logger="codec_server"):
        async with serving(app) as url, httpx.AsyncClient(timeout=60) as http:
            answer = await http.post(f"{url}/decode", json=body(forged))

    assert answer.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "codec_server"]
    assert len(lines) == 1 and "could not be resolved" in lines[0], lines
    assert lines[0].isprintable(), lines[0]


def _peak_bytes_parsing(body: bytes) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        parse_payloads(body)
    except Refused as refused:
        return refused, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return None, 0


def _empty_objects() -> bytes:
    # 5.6 million empty objects: parsed whole before the count of payloads was checked, a peak
    # of 404 MiB for a 16 MiB body (four requests at once: 1.7 GB).
    return b'{"payloads":[' + b",".join([b"{}"] * (MAX_BODY_BYTES // 3 - 8)) + b"]}"


def _short_strings() -> bytes:
    # Or millions of short strings beside the payloads, refused only after parsing.
    return b'{"x":[' + b",".join([b'"ab"'] * (MAX_BODY_BYTES // 5 - 8)) + b'],"payloads":[]}'


@pytest.mark.parametrize("crowded", [_empty_objects, _short_strings])
def test_a_body_of_a_crowd_of_small_values_is_refused_before_it_becomes_python_objects(
    crowded: Callable[[], bytes],
) -> None:
    crowd = crowded()
    assert len(crowd) <= MAX_BODY_BYTES
    refused, peak = _peak_bytes_parsing(crowd)

    assert isinstance(refused, Refused) and refused.status == 413
    assert "JSON objects and arrays" in refused.message
    assert peak < len(crowd) // 4  # nothing parsed: a few counts, no copy of the body


def test_the_largest_request_within_every_limit_is_still_parsed() -> None:
    # Each payload at its limits: 64 metadata entries and 16 references.
    full = {
        "metadata": {f"k{n}": "eA==" for n in range(MAX_METADATA_ENTRIES)},
        "data": "eA==",
        "externalPayloads": [{"sizeBytes": "1"}] * MAX_EXTERNAL_REFERENCES,
    }
    document = json.dumps({"payloads": [full] * MAX_PAYLOADS}).encode()
    assert len(document) <= MAX_BODY_BYTES

    payloads = parse_payloads(document)

    assert len(payloads) == MAX_PAYLOADS
    assert len(payloads[-1].metadata) == MAX_METADATA_ENTRIES
    assert len(payloads[-1].external_payloads) == MAX_EXTERNAL_REFERENCES


@pytest.mark.parametrize(
    ("body", "said"),
    [
        # A review (2026-12-07): one bad payload among good ones was refused with the body's
        # form only, whichever it was.
        (
            {"payloads": [{"data": "eA=="}, {"metadata": {"encoding": "!!notbase64"}}]},
            "(payload 1: its metadata 'encoding' is not base64)",
        ),
        # Text the parser read as other bytes, skipping what is not base64: "hello world!" was
        # encrypted as 7 bytes of garbage and answered 200; "!!!" decoded as nothing.
        ({"payloads": [{"data": "hello world!"}]}, "(payload 0: its data is not base64)"),
        ({"payloads": [{"data": "!!!"}]}, "(payload 0: its data is not base64)"),
        ({"payloads": [{"data": "eA=\n="}]}, "(payload 0: its data is not base64)"),
        ({"payloads": [{"data": "eA="}]}, "(payload 0: its data is not base64)"),
        ({"payloads": [{"metadata": {"encoding": 5}}]}, "(payload 0: Failed to parse metadata"),
        ({"payloads": {"data": "eA=="}}, NOT_PAYLOADS),
        ({"payloads": [], "more": 1}, "(the body has the member 'more' beside payloads)"),
        # A member a payload has not is named (a newer client's field was "is not one").
        ({"payloads": [{"data": "eA==", "sizeBytes": 1}]}, "payload 0 has the member 'sizeBytes'"),
    ],
    ids=[
        "bad-base64",
        "plain-text-data",
        "no-base64-at-all",
        "a-line-break",
        "bad-padding",
        "number-in-metadata",
        "not-a-list",
        "another-field",
        "a-member-of-a-newer-payload",
    ],
)
def test_a_body_that_is_not_a_list_of_payloads_is_refused_naming_the_bad_one(
    body: dict[str, object], said: str
) -> None:
    with pytest.raises(Refused) as refused:
        parse_payloads(json.dumps(body).encode())
    assert refused.value.status == 400
    assert said in refused.value.message
    assert refused.value.message.isprintable()


def test_base64_in_either_alphabet_padded_or_not_is_read() -> None:
    # What protocol-buffer JSON writers send: standard (the Web UI, Go) or URL-safe, with or
    # without padding.
    for data in ("aGk+Pz8=", "aGk-Pz8", "aGk-Pz8=", "aGk+Pz8", ""):
        [payload] = parse_payloads(json.dumps({"payloads": [{"data": data}]}).encode())
        assert payload.data == (b"hi>??" if data else b""), data


def test_an_empty_list_as_protocol_buffer_json_writes_it_is_no_payloads() -> None:
    # Protocol-buffer JSON leaves an empty list out: a client decoding nothing sends {}.
    assert parse_payloads(b"{}") == []
    assert parse_payloads(b'{"payloads": null}') == []
    assert parse_payloads(b'{"payloads": []}') == []
