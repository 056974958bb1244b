"""Whether a configured address is an http(s) URL a client can use: checked when the
configuration is read, so a typo stops the process with one sentence naming the setting, not a
traceback from the HTTP client at the first request. The URL itself is never repeated: it may
hold a password."""

import re
from urllib.parse import urlsplit


def http_url_problem(url: str, *, credentials: bool = False) -> str | None:
    """What is wrong with ``url`` as an http:// or https:// address, or None. ``credentials``:
    whether a user name and password in it are the client's to use (a webhook's basic auth);
    the providers' SDKs send their own Authorization header and refuse a URL with them."""
    if _at_in_path(url):
        # urlsplit ends the host at the first "/": https://user:2024/Spring!@host/ is the host
        # "user" on port 2024, and the password's start would be printed as that address.
        return (
            "has an '@' after its host part: a password holding '/' must write it %2F (and '@' "
            "%40), and an '@' that belongs in the path must be written %40"
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # the parser's message can quote the URL (a password in it)
        return "is not a URL (its host part cannot be read)"
    try:
        port = parts.port
    except ValueError:  # its message quotes the "port": a password with a '/' in it, say
        return "has a port that is not a number from 1 to 65535"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if port == 0:
        return "names port 0"
    if not credentials and (parts.username is not None or parts.password is not None):
        return "must not carry a user name or password (give credentials their own setting)"
    return None


def _at_in_path(url: str) -> bool:
    """An '@' past the first '/' after the scheme, before any query or fragment."""
    _, sep, rest = url.partition("://")
    before_query = re.split(r"[?#]", rest, maxsplit=1)[0]
    return bool(sep) and "@" in before_query.partition("/")[2]
