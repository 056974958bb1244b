"""URLs printed at start-up and in errors (shared/redaction.py): no credential survives, however
the endpoint carries it, and the rest of the URL still says where it points."""

import pytest

from shared.redaction import safe_url, split_userinfo
from shared.stores.url import redact


@pytest.mark.parametrize(
    ("url", "printed", "secret"),
    [
        # A password holding "/": urlsplit reads "2024" as the port and the rest as the path.
        ("https://user:2024/Spring!@gateway/v1", "https://***@gateway/v1", "Spring"),
        ("https://user:12345/abc@host/v1", "https://***@host/v1", "abc"),
        ("https://user:p@ss@host:8443/v1", "https://***@host:8443/v1", "ss"),
        ("https://user:a?b#c@host/v1", "https://***@host/v1", "a?b"),
        ("https://:s3cret@host/v1", "https://***@host/v1", "s3cret"),
        (
            "https://gw/v1?passphrase=SECRET&model=m",
            "https://gw/v1?passphrase=***&model=m",
            "SECRET",
        ),
        ("https://gw/v1?code=SECRET", "https://gw/v1?code=***", "SECRET"),
        ("https://gw/v1?sig=SECRET&sv=2024", "https://gw/v1?sig=***&sv=2024", "SECRET"),
        ("https://gw/v1?X-Amz-Signature=SECRET", "https://gw/v1?X-Amz-Signature=***", "SECRET"),
        ("https://gw/v1?access_token=SECRET", "https://gw/v1?access_token=***", "SECRET"),
        ("https://gw/v1?api_key=SECRET", "https://gw/v1?api_key=***", "SECRET"),
        ("https://gw/v1?x=1;token=SECRET", "https://gw/v1?x=1;token=***", "SECRET"),
        ("https://gw/v1?token=SEC@RET", "https://gw/v1?token=***", "SEC"),
        ("https://gw/v1?api%5Fkey=SECRET", "https://gw/v1?api%5Fkey=***", "SECRET"),
        ("https://gw/v1#access_token=SECRET", "https://gw/v1", "SECRET"),
    ],
)
def test_no_credential_is_printed(url: str, printed: str, secret: str) -> None:
    assert safe_url(url) == printed
    assert secret not in safe_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://api.openai.com/v1", "http://127.0.0.1:8000/v1?model=small", "http://[::1]:8080/v1"],
)
def test_a_url_without_credentials_is_printed_as_it_is(url: str) -> None:
    assert safe_url(url) == url


@pytest.mark.parametrize("text", ["not a url", "localhost:8080", "https://host:port/v1", ""])
def test_text_that_is_no_url_is_not_echoed(text: str) -> None:
    assert safe_url(text) == "(an unreadable URL)"


def test_the_database_urls_redaction_splits_the_user_part_the_same_way() -> None:
    assert split_userinfo("postgresql://app:Zm9v/YmFy@db:5432/t") == (
        "postgresql",
        "app:Zm9v/YmFy",
        "db:5432/t",
    )
    assert split_userinfo("https://host/v1") == ("https", None, "host/v1")
    assert redact("postgresql://app:Zm9v/YmFy@db:5432/t") == "postgresql://app@db:5432/t"
