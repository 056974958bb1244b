"""Key rings for tests: key material derived from a name (never use such keys outside tests)."""

import base64
import hashlib
import json

from shared.encryption.keyring import KeyRing, parse_key_ring


def derived_key(key_id: str) -> bytes:
    return hashlib.sha256(f"ticket-agents test key {key_id}".encode()).digest()


def key_ring_json(current: str, *others: str) -> str:
    ids = [current, *others]
    return json.dumps(
        {"current": current, "keys": {k: base64.b64encode(derived_key(k)).decode() for k in ids}}
    )


def make_key_ring(current: str, *others: str) -> KeyRing:
    return parse_key_ring(key_ring_json(current, *others), "the test key ring")
