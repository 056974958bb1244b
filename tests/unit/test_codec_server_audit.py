"""The codec server's audit lines (codec_server/audit.py): who asked to decrypt or encrypt, from
where, how many payloads, and the answer, for every request it answers or refuses; never a
token or a payload. And a wrong shared token is told so (it was told a token is required)."""

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from temporalio.converter import DataConverter

from codec_server.app import build_app
from codec_server.settings import CodecServerSettings, TokenSettings
from tests.unit.test_codec_server_tokens import (
    AUDIENCE,
    CODEC,
    ISSUER,
    UI,
    KeySetServerFake,
    body,
    decode_with,
    sealed,
    token,
)

SHARED = "cli-secret-of-some-length"


@pytest.fixture
def key_set() -> Iterator[KeySetServerFake]:
    served = KeySetServerFake()
    yield served
    served.server.shutdown()
    served.server.server_close()


def shared_token_client() -> TestClient:
    config = CodecServerSettings(allowed_origins=(UI,), auth_token=SHARED)
    return TestClient(build_app(DataConverter(payload_codec=CODEC), config))


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "codec_server.audit"]


def test_each_request_is_audited_with_its_caller_and_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = shared_token_client()
    caplog.set_level(logging.INFO, logger="codec_server.audit")

    ok = client.post(
        "/decode",
        json=body(sealed("first"), sealed("second")),
        headers={"Origin": UI, "Authorization": f"Bearer {SHARED}", "X-Namespace": "default"},
    )
    wrong = decode_with(client, "not-the-token")
    none = decode_with(client, None)
    encoded = client.post(
        "/encode", json=body(sealed("x")), headers={"Authorization": f"Bearer {SHARED}"}
    )

    assert [ok.status_code, wrong.status_code, none.status_code] == [200, 401, 401]
    assert encoded.status_code == 200
    assert "not one this codec server accepts" in wrong.json()["error"]
    assert "a bearer token is required" in none.json()["error"]
    lines = audit_lines(caplog)
    assert lines == [
        "decode of 2 payload(s) for namespace default by the shared token from testclient: 200",
        "decode of ? payload(s) for namespace - by no accepted token from testclient: 401",
        "decode of ? payload(s) for namespace - by no accepted token from testclient: 401",
        "encode of 1 payload(s) for namespace - by the shared token from testclient: 200",
    ]
    assert not any(SHARED in line or "not-the-token" in line for line in lines)


def test_a_users_access_token_is_audited_by_its_subject(
    key_set: KeySetServerFake, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = TokenSettings(jwks_url=key_set.url, issuer=ISSUER, audience=AUDIENCE)
    config = CodecServerSettings(allowed_origins=(UI,), tokens=tokens)
    client = TestClient(build_app(DataConverter(payload_codec=CODEC), config))
    caplog.set_level(logging.INFO, logger="codec_server.audit")

    answers = [
        decode_with(client, token()).status_code,
        decode_with(client, token(sub="mallory\n@evil")).status_code,
        decode_with(client, token(aud="another-app")).status_code,
    ]

    assert answers == [200, 200, 401]
    lines = audit_lines(caplog)
    assert "by user reviewer@example.com from testclient: 200" in lines[0]
    assert "by user mallory?@evil from testclient: 200" in lines[1]  # one line, printable
    assert "by no accepted token from testclient: 401" in lines[2]


def test_what_a_request_names_cannot_forge_or_erase_audit_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = shared_token_client()
    caplog.set_level(logging.INFO, logger="codec_server.audit")

    # A namespace in the path, with an escape sequence (erase the line) and U+0085 (a line
    # break to some readers) in it.
    answer = client.post(
        "/ns%1b%5b2Kforged%c2%85line/decode",
        json=body(sealed("x")),
        headers={"Authorization": f"Bearer {SHARED}"},
    )

    assert answer.status_code == 404  # not this server's namespace
    [line] = audit_lines(caplog)
    assert line == (
        "decode of ? payload(s) for namespace ns?[2Kforged?line by the shared token from "
        "testclient: 404"
    )
