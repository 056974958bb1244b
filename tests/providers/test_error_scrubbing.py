"""No key survives into a provider failure's message: the literal key, anything shaped like one,
and a cut message (split from test_error_classification.py)."""

import anthropic
import httpx2
import openai
import pytest

from activities.providers.anthropic_provider import failure_from as anthropic_failure
from activities.providers.errors import ProviderFailure, scrub, to_application_error
from activities.providers.openai_provider import failure_from as openai_failure

SECRET = "sk-test-secret-123456"


def failure(**fields: object) -> ProviderFailure:
    return ProviderFailure(**({"provider": "openai", "message": "it failed"} | fields))  # type: ignore[arg-type]


def test_scrub_removes_the_literal_secret_even_when_it_does_not_look_like_a_key() -> None:
    secret = "local-token-abcdef-42"

    text = scrub(f"Incorrect API key provided: {secret}.", [secret])

    assert secret not in text
    assert text == "Incorrect API key provided: [redacted]."


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        pytest.param("Incorrect API key provided: sk-proj-Ab12_cd-34", "Ab12_cd", id="sk-key"),
        pytest.param("key sk-ant-api03-XyZ987654321 was revoked", "XyZ987654321", id="sk-ant"),
        pytest.param("masked key sk-abc***********wxyz", "wxyz", id="masked-key"),
        # A gateway's mask of a key that does not start with sk- (a walk-through saw it printed).
        pytest.param("Incorrect API key provided: gwl**********4242.", "4242", id="masked-other"),
        pytest.param("key no-**********eded was refused", "eded", id="masked-placeholder"),
        pytest.param("sent Authorization: Bearer xyz", "xyz", id="bearer"),
        pytest.param("header x-api-key: abc123secret", "abc123secret", id="x-api-key"),
    ],
)
def test_scrub_removes_anything_that_looks_like_a_key(text: str, leaked: str) -> None:
    scrubbed = scrub(text)

    assert leaked not in scrubbed
    assert "[redacted]" in scrubbed


def test_scrub_keeps_ordinary_text() -> None:
    text = "Rate limit reached for gpt-4.1-mini: skip the task-queue, try again in 7s."

    assert scrub(text, [SECRET]) == text


def test_scrub_ignores_empty_and_very_short_secrets() -> None:
    assert scrub("hello world", ["", "o"]) == "hello world"


def test_application_error_message_is_scrubbed_of_the_key() -> None:
    err = to_application_error(
        failure(status=401, message=f"Incorrect API key provided: {SECRET}"), [SECRET]
    )

    assert SECRET not in err.message
    assert SECRET not in str(err)
    assert SECRET not in repr(err)


def test_provider_message_is_truncated_to_500_characters() -> None:
    err = to_application_error(failure(status=400, message="x" * 2000))

    assert "x" * 500 in err.message
    assert "x" * 501 not in err.message


def test_truncation_happens_after_scrubbing_so_no_partial_key_survives() -> None:
    # The key straddles the 500-character cut: cut first, and the "sk-t" left before the cut is
    # neither the whole secret nor long enough for the key pattern.
    message = "y" * 495 + " " + SECRET

    err = to_application_error(failure(status=400, message=message), [SECRET])

    assert "sk-t" not in err.message


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("at", [280, 295, 490])
def test_an_error_s_text_is_not_cut_inside_a_key_before_the_scrub(provider: str, at: int) -> None:
    # Both providers cut a stream's error text (or a body's bare string) at 300 characters
    # before the scrub: a cut inside a key that looks like no key left a piece of it in the
    # message (13 of this one's 21 characters), the history and the ticket's fallback record.
    key = "local-token-abcdef-42"
    said = "upstream rejected the request: ".ljust(at, "x") + f" token={key} is not allowed"
    request = httpx2.Request("POST", "http://gateway.example/v1")
    if provider == "openai":
        failure = openai_failure(openai.APIError(said, request, body={"message": said}), provider)
    else:
        response = httpx2.Response(502, request=request)
        failure = anthropic_failure(
            anthropic.APIStatusError(said, response=response, body={"error": said}), provider
        )

    message = to_application_error(failure, [key]).message

    assert not any(key[i : i + 6] in message for i in range(len(key) - 5)), message
