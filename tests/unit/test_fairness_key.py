"""A ticket's fairness key: one per customer, stable, and no customer id in clear."""

import hashlib

from policy.priority import fairness_key
from shared.encryption.keyring import KeyRing


def test_each_customer_gets_its_own_stable_key_without_the_id_in_it() -> None:
    a, b = fairness_key("C-1042"), fairness_key("C-1043")

    assert a is not None and b is not None
    assert a != b
    assert fairness_key("C-1042") == a
    assert "1042" not in a and len(a) <= 64  # the server's limit on a fairness key


def test_a_ticket_without_a_customer_has_no_key_of_its_own() -> None:
    assert fairness_key(None) is None
    assert fairness_key("") is None


def test_with_the_key_rings_secret_the_key_cannot_be_made_from_a_guessed_customer() -> None:
    """The key is stored unencrypted in every history: a plain digest of an e-mail address lets
    anyone who reads histories confirm a guess and link the customer's tickets."""
    ring = KeyRing(current="k1", keys={"k1": b"\x01" * 32, "k2": b"\x02" * 32})
    secret = ring.derived_key("temporal-fairness-key")

    keyed = fairness_key("ana@example.com", secret)
    assert keyed is not None and keyed != fairness_key("ana@example.com")
    assert hashlib.sha256(b"ana@example.com").hexdigest()[:16] not in keyed
    assert fairness_key("ana@example.com", secret) == keyed  # stable: one key per customer
    assert fairness_key("bo@example.com", secret) != keyed
    other = KeyRing(current="k2", keys=ring.keys).derived_key("temporal-fairness-key")
    assert fairness_key("ana@example.com", other) != keyed
    assert len(keyed) <= 64
