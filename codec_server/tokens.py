"""Checking the Web UI's users' access tokens: the codec server as an OIDC resource server.

With ``TEMPORAL_CODEC_PASS_ACCESS_TOKEN`` the Web UI sends each signed-in user's access token
with every decode request. When ``TICKETS_CODEC_JWKS_URL`` names the identity provider's key
set, a request is decrypted only for a token that is a JWT signed by one of those keys (RS256
or ES256 by default: never ``none``, never a shared-secret algorithm), issued by
``TICKETS_CODEC_JWT_ISSUER`` for ``TICKETS_CODEC_JWT_AUDIENCE``, and not expired. PyJWT does the
verification; this module fetches and caches the key set.

The key set is fetched when a token names a key it does not hold, at most once a minute (a
provider rotating its keys publishes the new one before it signs with it; tokens with made-up
key ids must not become a stream of requests to the provider), within a time and size limit,
with an async HTTP client (never blocking the event loop).
"""

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx2
import jwt

from codec_server.settings import TokenSettings

REFETCH_SECONDS: Final = 60.0
FETCH_TIMEOUT_SECONDS: Final = 10.0
MAX_KEY_SET_BYTES: Final = 512 * 1024
MAX_TOKEN_CHARS: Final = 16 * 1024
# The identity provider's clock and this server's may differ by this much.
LEEWAY_SECONDS: Final = 30


# The key type each algorithm family signs with (RFC 7518, RFC 8037).
KEY_TYPES: Final = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


@dataclass(frozen=True)
class SigningKey:
    jwk: jwt.PyJWK
    algorithm: str | None  # the "alg" the key set names for it, if any


def fits(key: SigningKey, algorithm: str) -> bool:
    """Whether ``key`` may verify a token signed with ``algorithm``: the key type of the
    algorithm's family, and the key's own ``alg`` (when the key set names one) the same."""
    if KEY_TYPES.get(algorithm[:2]) != key.jwk.key_type:
        return False
    return key.algorithm is None or key.algorithm == algorithm


def signing_keys(document: Any) -> dict[str | None, SigningKey]:
    """The usable signature keys of a JWKS document by key id (None for a key without one);
    keys of other types or uses, or that PyJWT cannot read, are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JSON object with a list of keys")
    keys: dict[str | None, SigningKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") not in KEY_TYPES.values():
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except (jwt.PyJWTError, TypeError, ValueError):
            continue
        kid = entry.get("kid")
        named = entry.get("alg")
        keys[kid if isinstance(kid, str) else None] = SigningKey(
            jwk, named if isinstance(named, str) else None
        )
    return keys


class KeysUnavailable(Exception):
    """The identity provider's key set could not be fetched or read (the message says why)."""


# The roles of Temporal's permission entries ("<namespace>:<role>", its default JWT claim
# mapper's form) that may read the namespace's histories in its default authorizer, and so its
# payloads here: reader and above. "worker" (1, below reader's 2) polls tasks and reads no
# history there; it was taken here (a review, 2026-12-08).
NAMESPACE_ROLES: Final = frozenset({"read", "write", "admin"})
# A role on this "namespace" is a role on every namespace (Temporal's default authorizer).
SYSTEM: Final = "temporal-system"


def grants(permissions: object, namespace: str) -> bool:
    """Whether ``permissions`` (a token's permissions claim) hold a role on ``namespace``, or a
    system role, as Temporal's default claim mapper reads them (the role's case ignored)."""
    if not isinstance(permissions, list):
        return False
    for entry in permissions:
        if not isinstance(entry, str):
            continue
        named, _, role = entry.partition(":")
        if named in (namespace, SYSTEM) and role.lower() in NAMESPACE_ROLES:
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    problem: str | None  # why the token is refused (401), never its contents
    subject: str  # who it names (its ``sub``; "?" when refused or unnamed), for the audit log
    forbidden: str | None = None  # a valid token without a role on the namespace (403)


class TokenVerifier:
    def __init__(self, settings: TokenSettings, namespace: str = "default") -> None:
        self.settings = settings
        self.namespace = namespace
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at: float | None = None
        self._fetch_failed: str | None = None  # why the last fetch failed, until one succeeds
        self._lock = asyncio.Lock()
        self.fetches = 0  # key-set requests made (tests: a made-up key id fetches at most once)
        # The TLS context the key-set requests share, made once: building a client made its own,
        # loading the CA bundle on the event loop (34-64 ms) at every fetch.
        self._tls = httpx2.create_ssl_context()

    async def check(self, token: str) -> Verdict:
        """What is wrong with ``token``, if anything, and who it names. With a permissions
        claim configured, a valid token must also grant a role on the namespace this server
        serves: any user the identity provider signs in for the audience decrypted every
        payload otherwise, though Temporal let them see only other namespaces. Raises
        KeysUnavailable when the key set cannot be had."""
        claims: dict[str, Any] = {}
        problem = await self._problem(token, claims)
        named = claims.get("sub")
        subject = named if problem is None and isinstance(named, str) else "?"
        claim = self.settings.permissions_claim
        if problem is None and claim and not grants(claims.get(claim), self.namespace):
            return Verdict(
                None,
                subject,
                f"the token's {claim} claim grants no role on namespace {self.namespace}",
            )
        return Verdict(problem, subject)

    async def _problem(self, token: str, claims: dict[str, Any]) -> str | None:
        if len(token) > MAX_TOKEN_CHARS:
            return "the token is too long"
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return "the token is not a JWT"
        algorithm = header.get("alg")
        if algorithm not in self.settings.algorithms:
            return "the token's signing algorithm is not accepted"
        kid = header.get("kid")
        jwk = await self._key(kid if isinstance(kid, str) else None)
        if jwk is None:
            return "the token is signed with a key the identity provider does not list"
        if not fits(jwk, algorithm):
            return "the token's algorithm does not match its key"
        try:
            verified = jwt.decode(
                token,
                key=jwk.jwk.key,
                algorithms=[algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return "the token has expired"
        except jwt.InvalidAudienceError:
            return "the token is for another audience"
        except jwt.InvalidIssuerError:
            return "the token is from another issuer"
        except (jwt.PyJWTError, TypeError, ValueError):
            # TypeError and ValueError: a key PyJWT cannot use with the algorithm (backstop
            # for ``fits``); never an answer of 500 for what a caller sent.
            return "the token is not valid"
        claims.update(verified)
        return None

    async def _key(self, kid: str | None) -> SigningKey | None:
        if (key := self._held(kid)) is not None:
            return key
        async with self._lock:
            if (key := self._held(kid)) is not None:
                return key
            now = time.monotonic()
            if self._fetched_at is not None and now - self._fetched_at < REFETCH_SECONDS:
                if self._fetch_failed is not None:
                    raise KeysUnavailable(self._fetch_failed)
                return None
            self._fetched_at = now
            try:
                async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                    self._keys = await self._fetch()
            except TimeoutError:
                self._fetch_failed = f"the key set took over {FETCH_TIMEOUT_SECONDS:g} s"
                raise KeysUnavailable(self._fetch_failed) from None
            except KeysUnavailable as err:
                self._fetch_failed = str(err)  # the keys held (if any) stay in use
                raise
            except BaseException:  # cancelled: the next request may try again at once
                self._fetched_at = None
                raise
            self._fetch_failed = None
            return self._held(kid)

    def _held(self, kid: str | None) -> SigningKey | None:
        if kid is None:  # a provider with a single key may name none
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _fetch(self) -> dict[str | None, SigningKey]:
        self.fetches += 1
        try:
            async with (
                httpx2.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, verify=self._tls) as http,
                http.stream(
                    "GET", self.settings.jwks_url, headers={"Accept": "application/json"}
                ) as response,
            ):
                if response.status_code != 200:
                    raise KeysUnavailable(f"the key set answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_KEY_SET_BYTES:
                        raise KeysUnavailable(f"the key set is over {MAX_KEY_SET_BYTES} bytes")
        except httpx2.HTTPError as err:
            what = type(err).__name__
            raise KeysUnavailable(f"the key set could not be fetched ({what})") from None
        try:
            return signing_keys(json.loads(body))
        except Exception as err:  # whatever the provider sent: never a 500 for callers
            raise KeysUnavailable(f"the key set cannot be read ({type(err).__name__})") from None
