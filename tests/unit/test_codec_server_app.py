"""The codec server's HTTP side in process (codec_server/app.py), with the project's encryption
codec and a key made for the test: a payload that cannot be read never fails the others, a
proxy's path prefix is no namespace, origins compare as browsers write them. The real process,
the Web UI and the CLI are in tests/privacy/test_privacy_dev_server.py."""

import base64
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import DataConverter

from codec_server.app import build_app
from codec_server.settings import (
    MIN_AUTH_TOKEN_CHARS,
    CodecServerSettings,
    normal_origin,
    parse_origin,
)
from shared.encryption.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec
from shared.encryption.keyring import KeyRing, parse_key_ring
from shared.settings import ConfigError

UI = "http://localhost:8233"
RING = KeyRing(current="k1", keys={"k1": os.urandom(32)})
CODEC = EncryptionCodec(RING)


def client(**settings: object) -> TestClient:
    config = CodecServerSettings(allowed_origins=(UI, "http://127.0.0.1:8233"), **settings)
    app = build_app(DataConverter(payload_codec=CODEC), config)
    return TestClient(app, raise_server_exceptions=False)


def body(*payloads: Payload) -> dict[str, object]:
    return json_format.MessageToDict(Payloads(payloads=list(payloads)))


def sealed(text: str) -> Payload:
    return CODEC.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=text.encode()))


def texts(response_json: dict[str, list[dict[str, str]]]) -> list[bytes]:
    return [base64.b64decode(p.get("data", "")) for p in response_json["payloads"]]


def test_a_payload_that_cannot_be_read_is_returned_as_stored_and_the_others_decoded() -> None:
    too_short = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k1"}, data=b"abc")
    unknown_key = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"k9"}, data=b"x" * 40)

    answer = client().post(
        "/decode", json=body(sealed("first"), too_short, unknown_key, sealed("last"))
    )

    assert answer.status_code == 200, answer.text
    assert texts(answer.json()) == [b"first", b"abc", b"x" * 40, b"last"]


@pytest.mark.parametrize("path", ["/decode", "/default/decode", "/codec/decode", "/a/b/decode"])
def test_only_the_last_path_segment_matters_and_the_header_names_the_namespace(path: str) -> None:
    answer = client().post(
        path, json=body(sealed("hello")), headers={"X-Namespace": "default", "Origin": UI}
    )

    assert answer.status_code == 200, answer.text
    assert texts(answer.json()) == [b"hello"]


def test_another_namespace_is_refused_by_header_or_by_a_one_segment_prefix() -> None:
    by_header = client().post("/codec/decode", json=body(), headers={"X-Namespace": "other"})
    by_path = client().post("/other/decode", json=body())

    assert (by_header.status_code, by_path.status_code) == (404, 404)
    assert "serves namespace default" in by_header.json()["error"]


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://127.0.0.1:8233", 200),  # the other loopback spelling make run allows
        ("HTTP://LocalHost:8233", 200),  # case does not make another origin
        ("http://localhost:8234", 403),
        ("https://localhost:8233", 403),
        ("http://evil.example", 403),
        # Not even a URL: urlsplit raises on these, which answered 500 with no audit line.
        ("http://[::1", 403),
        ("http://[", 403),
        ("http://a]b", 403),
        ("http://[zz]", 403),
    ],
)
def test_origins_compare_as_browsers_write_them(origin: str, status: int) -> None:
    answer = client().post("/decode", json=body(sealed("hi")), headers={"Origin": origin})

    assert answer.status_code == status


def test_an_origin_is_normalised_once_and_a_path_is_no_origin() -> None:
    assert parse_origin(" HTTPS://Example.COM:443/ ") == "https://example.com"
    assert parse_origin("http://localhost:8233") == "http://localhost:8233"
    assert normal_origin("http://localhost:8233/ui") is None
    with pytest.raises(ConfigError, match="is not an origin"):
        parse_origin("localhost:8233")
    with pytest.raises(ConfigError, match="is not an origin"):
        parse_origin("http://[::1")
    with pytest.raises(ConfigError, match="is not an origin"):
        CodecServerSettings.from_env({"TICKETS_CODEC_ALLOWED_ORIGINS": "http://[::1"})


def test_a_key_id_outside_ascii_is_refused_when_the_ring_is_read() -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigError, match="ASCII letters"):
        parse_key_ring(f'{{"current": "clé1", "keys": {{"clé1": "{key}"}}}}', "the test ring")


def test_the_namespace_is_resolved_as_every_client_resolves_it(tmp_path: Path) -> None:
    """A profile in the Temporal config file names it as it does for the workers and the UI."""
    config = tmp_path / "temporal.toml"
    config.write_text('[profile.support]\naddress = "localhost:7233"\nnamespace = "support"\n')
    env = {"TEMPORAL_CONFIG_FILE": str(config), "TEMPORAL_PROFILE": "support"}

    assert CodecServerSettings.from_env(env).namespace == "support"
    assert CodecServerSettings.from_env(env | {"TEMPORAL_NAMESPACE": "other"}).namespace == "other"
    assert CodecServerSettings.from_env({}).namespace == "default"


def test_the_process_environment_itself_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the codec server's process does (from_env() on os.environ, which the SDK's config
    loader does not take as it is)."""
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "from-the-process")

    assert CodecServerSettings.from_env().namespace == "from-the-process"


def test_a_shared_token_too_short_to_resist_guessing_is_refused_at_start() -> None:
    # "abc" fell to 29 guesses in a tenth of a second, and the server hands out plaintext.
    with pytest.raises(ConfigError, match=r"TICKETS_CODEC_AUTH_TOKEN is 3 characters; it needs"):
        CodecServerSettings.from_env({"TICKETS_CODEC_AUTH_TOKEN": "abc"})
    token = "t" * MIN_AUTH_TOKEN_CHARS
    assert CodecServerSettings.from_env({"TICKETS_CODEC_AUTH_TOKEN": token}).auth_token == token
    # Carried as Latin-1 bytes in a header: a token with "é" never matched, 401 for every call.
    with pytest.raises(ConfigError, match="TICKETS_CODEC_AUTH_TOKEN has a character outside"):
        CodecServerSettings.from_env({"TICKETS_CODEC_AUTH_TOKEN": token + "é"})


def test_a_preflight_for_the_headers_the_web_ui_sends_with_an_identity_provider_is_allowed() -> (
    None
):
    # With "pass access token" and OIDC the UI adds the user's id token as Authorization-Extras:
    # the preflight was refused (400) and every payload stayed encrypted on the page.
    asked = "authorization,authorization-extras,content-type,x-namespace"
    answer = client().options(
        "/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        },
    )

    assert answer.status_code == 200, answer.text
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert set(asked.split(",")) <= {h.strip() for h in allowed.split(",")}
