"""Why the console's sign-in was refused, when the form's cookie did not come back
(api/console/sign_in.py): over plain HTTP away from localhost a Secure cookie never does."""

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from api.console.session import SIGN_IN_COOKIE, cookie_name
from api.console.sign_in import _no_sign_in_cookie
from api.settings import ApiSettings


def request(url_host: str, scheme: str, secure: bool, cookie: bool) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(settings=ApiSettings(secure_cookies=secure)))
    headers = [(b"host", url_host.encode())]
    if cookie:
        headers.append((b"cookie", f"{cookie_name(SIGN_IN_COOKIE, secure)}=abc".encode()))
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "server": (url_host, 80),
            "path": "/console/sign-in",
            "headers": headers,
            "app": app,
        }
    )


@pytest.mark.parametrize(
    ("host", "scheme", "secure", "cookie", "says_https"),
    [
        ("support.example.com", "http", True, False, True),  # the cookie could not be kept
        ("support.example.com", "https", True, False, False),
        ("localhost", "http", True, False, False),  # browsers keep Secure cookies on localhost
        ("support.example.com", "http", False, False, False),  # insecure cookies configured
        ("support.example.com", "http", True, True, False),  # it came back, and did not match
    ],
)
def test_the_refusal_says_https_only_where_a_secure_cookie_cannot_come_back(
    host: str, scheme: str, secure: bool, cookie: bool, says_https: bool
) -> None:
    message = _no_sign_in_cookie(request(host, scheme, secure, cookie))

    assert message.startswith("the sign-in form expired")
    assert ("TICKETS_API_INSECURE_COOKIES=1" in message) is says_https
