"""The codec server checks the Web UI's users' access tokens (codec_server/tokens.py): signed by
a key the identity provider lists (fetched over HTTP from a real local server), for this
audience, from this issuer, not expired, with an asymmetric algorithm; anything else is 401,
a key set that cannot be had is 503, and made-up key ids do not make it ask the provider again
and again."""

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from temporalio.converter import DataConverter

import codec_server.tokens
from codec_server.app import build_app
from codec_server.main import namespace_warning, who_may_call
from codec_server.settings import CodecServerSettings, TokenSettings, token_settings
from shared.settings import ConfigError
from tests.unit.test_codec_server_app import CODEC, UI, body, sealed, texts

ISSUER = "https://id.example.com/"
AUDIENCE = "temporal-ui"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    return {**json.loads(algorithm.to_jwk(key.public_key())), "kid": kid, "alg": alg}


class KeySetServerFake:
    """A real HTTP server on 127.0.0.1 serving a JWKS document, counting its requests."""

    def __init__(self) -> None:
        self.document: bytes = json.dumps(
            {"keys": [public_jwk(KEY, "rsa-1", "RS256"), public_jwk(EC_KEY, "ec-1", "ES256")]}
        ).encode()
        self.status = 200
        self.requests = 0
        keys = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                keys.requests += 1
                self.send_response(keys.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(keys.document)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def keys() -> Iterator[KeySetServerFake]:
    served = KeySetServerFake()
    yield served
    served.server.shutdown()
    served.server.server_close()


def codec_client(
    keys: KeySetServerFake, permissions_claim: str | None = None, **settings: object
) -> TestClient:
    tokens = TokenSettings(
        jwks_url=keys.url, issuer=ISSUER, audience=AUDIENCE, permissions_claim=permissions_claim
    )
    config = CodecServerSettings(allowed_origins=(UI,), tokens=tokens, **settings)  # type: ignore[arg-type]
    return TestClient(build_app(DataConverter(payload_codec=CODEC), config))


def token(key: Any = KEY, kid: str | None = "rsa-1", alg: str = "RS256", **claims: object) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "reviewer@example.com", "iat": now}
    payload |= {"exp": now + 300, **claims}
    payload = {
        name: value for name, value in payload.items() if value is not None
    }  # None: left out
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def decode_with(client: TestClient, bearer: str | None) -> Any:
    headers = {"Origin": UI}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return client.post("/decode", json=body(sealed("hello")), headers=headers)


def test_a_users_token_from_the_identity_provider_decrypts(keys: KeySetServerFake) -> None:
    client = codec_client(keys)

    rsa_answer = decode_with(client, token())
    ec_answer = decode_with(client, token(EC_KEY, "ec-1", "ES256"))

    assert rsa_answer.status_code == 200, rsa_answer.text
    assert texts(rsa_answer.json()) == [b"hello"]
    assert ec_answer.status_code == 200, ec_answer.text
    assert keys.requests == 1  # the key set is fetched once and kept


@pytest.mark.parametrize(
    ("bearer", "reason"),
    [
        (None, "a bearer token is required"),
        ("not-a-jwt", "not a JWT"),
        (token(exp=int(time.time()) - 3600), "expired"),
        (token(aud="another-app"), "another audience"),
        (token(iss="https://elsewhere.example.com/"), "another issuer"),
        (token(STRANGER), "not valid"),  # a listed key id, signed by another key
        (token(STRANGER, kid="made-up"), "a key the identity provider does not list"),
        # A shared-secret algorithm (whoever holds the public key set must not sign with it)
        # and no signature at all.
        (jwt.encode({"iss": ISSUER, "aud": AUDIENCE}, "s" * 32, algorithm="HS256"), "algorithm"),
        (jwt.encode({"iss": ISSUER, "aud": AUDIENCE}, None, algorithm="none"), "algorithm"),
        (token(exp=None), "not valid"),  # no expiry: required
        (token(nbf=int(time.time()) + 3600), "not valid"),  # not valid before an hour from now
        (token(kid="ec-1"), "does not match its key"),  # RS256 under the EC key's id
    ],
)
def test_anything_else_is_refused_with_what_is_wrong(
    keys: KeySetServerFake, bearer: str | None, reason: str
) -> None:
    answer = decode_with(codec_client(keys), bearer)

    assert answer.status_code == 401, answer.text
    assert reason in answer.json()["error"]
    assert "hello" not in answer.text


def test_made_up_key_ids_ask_the_provider_at_most_once_a_minute(keys: KeySetServerFake) -> None:
    client = codec_client(keys)

    answers = [decode_with(client, token(STRANGER, kid=f"made-up-{i}")) for i in range(20)]

    assert {a.status_code for a in answers} == {401}
    assert keys.requests == 1


class ClockFake:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_key_published_later_is_taken_once_the_minute_is_over(
    keys: KeySetServerFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ClockFake()
    monkeypatch.setattr(codec_server.tokens, "time", clock)
    client = codec_client(keys)
    assert decode_with(client, token()).status_code == 200
    rotated = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    published = json.loads(keys.document)["keys"] + [public_jwk(rotated, "rsa-2", "RS256")]
    keys.document = json.dumps({"keys": published}).encode()

    clock.now += 30  # within the minute: not asked again
    early = decode_with(client, token(rotated, "rsa-2"))
    clock.now += 31
    later = decode_with(client, token(rotated, "rsa-2"))

    assert early.status_code == 401 and later.status_code == 200, later.text
    assert keys.requests == 2


def test_a_token_without_a_key_id_is_checked_against_a_single_key_and_aud_may_be_a_list(
    keys: KeySetServerFake,
) -> None:
    keys.document = json.dumps({"keys": [public_jwk(KEY, "only", "RS256")]}).encode()
    client = codec_client(keys)

    answer = decode_with(client, token(kid=None, aud=["another-app", AUDIENCE]))
    stranger = decode_with(client, token(STRANGER, kid=None))

    assert answer.status_code == 200, answer.text
    assert stranger.status_code == 401


@pytest.mark.parametrize("document", [b"[]", b'"keys"', b'{"keys": {}}', b"null", b"not json"])
def test_a_key_set_that_is_not_one_is_503(keys: KeySetServerFake, document: bytes) -> None:
    keys.document = document

    answer = decode_with(codec_client(keys), token())

    assert answer.status_code == 503, answer.text
    assert "the key set cannot be read" in answer.json()["error"]


def test_the_shared_token_still_works_beside_users_tokens(keys: KeySetServerFake) -> None:
    client = codec_client(keys, auth_token="cli-secret")

    assert decode_with(client, "cli-secret").status_code == 200
    assert decode_with(client, token()).status_code == 200
    assert decode_with(client, "cli-secre").status_code == 401


def test_a_key_set_that_cannot_be_had_is_503_not_a_pass(keys: KeySetServerFake) -> None:
    keys.status = 500
    client = codec_client(keys)

    first, again = decode_with(client, token()), decode_with(client, token())

    assert (first.status_code, again.status_code) == (503, 503)
    assert "HTTP 500" in first.json()["error"] and first.headers["Retry-After"]
    assert keys.requests == 1  # the next try waits its minute


def test_the_settings_name_what_is_missing_or_unsafe() -> None:
    jwks = {"TICKETS_CODEC_JWKS_URL": "https://id.example.com/jwks.json"}
    both = {"TICKETS_CODEC_JWT_ISSUER": ISSUER, "TICKETS_CODEC_JWT_AUDIENCE": AUDIENCE}

    assert token_settings({}) is None
    local = token_settings({"TICKETS_CODEC_JWKS_URL": "http://127.0.0.1:8080/jwks", **both})
    assert local is not None and local.jwks_url == "http://127.0.0.1:8080/jwks"
    assert token_settings({**jwks, **both}) == TokenSettings(
        jwks_url=jwks["TICKETS_CODEC_JWKS_URL"], issuer=ISSUER, audience=AUDIENCE
    )
    problems = {
        "TICKETS_CODEC_JWT_AUDIENCE is required": {**jwks, "TICKETS_CODEC_JWT_ISSUER": ISSUER},
        "TICKETS_CODEC_JWT_ISSUER is required": {**jwks, "TICKETS_CODEC_JWT_AUDIENCE": AUDIENCE},
        "must use https://": {"TICKETS_CODEC_JWKS_URL": "http://id.example.com/jwks", **both},
        "must be an https:// URL": {"TICKETS_CODEC_JWKS_URL": "https://[::1/jwks", **both},
        "TICKETS_CODEC_JWT_ALGORITHMS: HS256 not accepted": {
            **jwks,
            **both,
            "TICKETS_CODEC_JWT_ALGORITHMS": "RS256,HS256",
        },
        "TICKETS_CODEC_JWT_ISSUER is set but TICKETS_CODEC_JWKS_URL is not": {
            "TICKETS_CODEC_JWT_ISSUER": ISSUER
        },
    }
    for message, env in problems.items():
        with pytest.raises(ConfigError, match=message):
            token_settings(env)


@pytest.mark.parametrize(
    ("permissions", "status"),
    [
        (["default:read"], 200),
        (["other:admin", "default:Writer"], 403),  # a role Temporal's mapper does not know
        (["other:admin", "default:Write"], 200),
        # A worker role alone reads no history in Temporal's default authorizer (worker 1 is
        # below reader 2): it decrypted this namespace's payloads here.
        (["default:worker"], 403),
        (["temporal-system:worker"], 403),
        (["temporal-system:admin"], 200),
        (["temporal-system:read"], 200),  # a system role holds on every namespace
        (["other:admin"], 403),  # a user of another namespace only
        (["default:owner"], 403),  # no role Temporal knows
        ("default:read", 403),  # not a list
        (None, 403),  # no claim at all
    ],
)
def test_with_a_permissions_claim_a_token_must_grant_a_role_on_the_namespace(
    keys: KeySetServerFake, permissions: object, status: int
) -> None:
    # Any user the identity provider signed in for the audience decrypted every payload, though
    # Temporal showed them only other namespaces: Temporal's docs ask a codec server to check.
    client = codec_client(keys, permissions_claim="permissions", namespace="default")

    answer = decode_with(client, token(permissions=permissions))

    assert answer.status_code == status, answer.text
    if status == 403:
        assert "grants no role on namespace default" in answer.json()["error"]


def test_without_a_permissions_claim_configured_a_valid_token_decrypts_as_before(
    keys: KeySetServerFake,
) -> None:
    answer = decode_with(codec_client(keys), token(permissions=["other:admin"]))
    assert answer.status_code == 200, answer.text


def test_the_permissions_claim_is_read_from_the_environment_only_with_a_key_set() -> None:
    env = {
        "TICKETS_CODEC_JWKS_URL": "https://idp.example.com/jwks",
        "TICKETS_CODEC_JWT_ISSUER": ISSUER,
        "TICKETS_CODEC_JWT_AUDIENCE": AUDIENCE,
        "TICKETS_CODEC_JWT_PERMISSIONS_CLAIM": "permissions",
    }
    tokens = CodecServerSettings.from_env(env).tokens
    assert tokens is not None and tokens.permissions_claim == "permissions"
    with pytest.raises(ConfigError, match="PERMISSIONS_CLAIM is set but TICKETS_CODEC_JWKS_URL"):
        CodecServerSettings.from_env({"TICKETS_CODEC_JWT_PERMISSIONS_CLAIM": "permissions"})


def test_the_start_up_says_what_a_token_needs_and_warns_without_a_permissions_claim() -> None:
    url = "https://idp.example.com/jwks"
    tokens = TokenSettings(jwks_url=url, issuer=ISSUER, audience=AUDIENCE)
    open_to_all = CodecServerSettings(tokens=tokens, namespace="support")
    assert "decrypts namespace support" in (namespace_warning(open_to_all) or "")
    checked = CodecServerSettings(
        tokens=dataclasses.replace(tokens, permissions_claim="permissions"), namespace="support"
    )
    assert namespace_warning(checked) is None
    assert "granting a role on support in its permissions claim" in who_may_call(checked)
