"""The evaluation split: a ticket's part follows from its text alone."""

import hashlib

from bench.eval_split import HELD_OUT_PERCENT, Part, bucket_of, part_of


def test_the_bucket_is_the_sha256_of_the_fields_joined_by_a_newline() -> None:
    digest = hashlib.sha256(b"Invoice missing\nWhere is my March invoice?").digest()

    assert bucket_of("Invoice missing", "Where is my March invoice?") == (
        int.from_bytes(digest[:8], "big") % 100
    )


def test_the_same_text_always_lands_in_the_same_part() -> None:
    assert part_of("Subject", "Body") is part_of("Subject", "Body")


def test_a_low_bucket_is_held_out_and_a_high_one_is_development() -> None:
    texts = [f"ticket number {n}" for n in range(400)]
    held_out = [t for t in texts if bucket_of(t) < HELD_OUT_PERCENT]
    development = [t for t in texts if bucket_of(t) >= HELD_OUT_PERCENT]

    assert held_out and development
    assert all(part_of(t) is Part.HELD_OUT for t in held_out)
    assert all(part_of(t) is Part.DEVELOPMENT for t in development)


def test_about_the_held_out_share_of_many_texts_is_held_out() -> None:
    texts = [f"a support request, variant {n}" for n in range(5_000)]
    share = sum(part_of(t) is Part.HELD_OUT for t in texts) / len(texts)

    assert abs(share - HELD_OUT_PERCENT / 100) < 0.03


def test_subject_and_body_are_not_interchangeable() -> None:
    # "a\nb" and "b\na" are different texts: the split must not treat them as one.
    pairs = [(f"subject {n}", f"body {n}") for n in range(200)]

    assert any(part_of(s, b) is not part_of(b, s) for s, b in pairs)
