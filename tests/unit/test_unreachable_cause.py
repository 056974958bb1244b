"""Why a connection to Temporal failed, in a few words (shared/temporal_client.py
unreachable_cause): the SDK's message quotes the Rust transport's nested error types, and cut to
160 characters a DNS failure's ended at 'error: "', its reason gone (a review, 2026-12-07)."""

import pytest

from shared.temporal_client import unreachable_cause

RUST = (
    "Failed client connect: Server connection error: tonic::transport::Error(Transport, "
    'ConnectError(ConnectError("{kind}", Custom {{ kind: Uncategorized, error: "{detail}" }})))'
)


@pytest.mark.parametrize(
    ("kind", "detail", "said"),
    [
        ("dns error", "failed to lookup address information", "could not be resolved (DNS)"),
        ("tcp connect error", "Connection refused (os error 111)", "connection refused"),
        ("tls handshake", "invalid peer certificate: UnknownIssuer", "TLS certificate"),
    ],
)
def test_a_transport_error_is_said_in_a_few_words(kind: str, detail: str, said: str) -> None:
    assert said in unreachable_cause(RuntimeError(RUST.format(kind=kind, detail=detail)))


def test_an_unknown_one_is_kept_on_one_line_and_cut_short() -> None:
    text = unreachable_cause(RuntimeError("something\n  else " + "x" * 500))
    assert text.startswith("something else x") and len(text) == 160
