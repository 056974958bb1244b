"""A ticket's fairness key: one per customer, stable, and no customer id in clear."""

from policy.priority import fairness_key


def test_each_customer_gets_its_own_stable_key_without_the_id_in_it() -> None:
    a, b = fairness_key("C-1042"), fairness_key("C-1043")

    assert a is not None and b is not None
    assert a != b
    assert fairness_key("C-1042") == a
    assert "1042" not in a and len(a) <= 64  # the server's limit on a fairness key


def test_a_ticket_without_a_customer_has_no_key_of_its_own() -> None:
    assert fairness_key(None) is None
    assert fairness_key("") is None
