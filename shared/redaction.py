"""URLs made safe to print: start-up lines, errors and logs never show a credential that was
embedded in an endpoint (``https://user:secret@host/v1``, ``...?api_key=secret``)."""

import re
from typing import Final
from urllib.parse import unquote, urlsplit, urlunsplit

HIDDEN: Final = "***"
UNREADABLE: Final = "(an unreadable URL)"
# Query parameters whose value is a credential in the services a base URL may point at
# (gateways, signed URLs, OAuth, libpq): matched anywhere in the parameter's name, any case
# (api_key, access_token, client_secret, passphrase, X-Amz-Signature, sig, code, ...). A
# harmless parameter with such a name loses its value in print, never more.
SECRET_PARAMETER: Final = re.compile(
    r"(?i)(key|token|secret|pass|pwd|sig|auth|cred|session|code|jwt|bearer|cookie|hmac|otp|private)"
)
# One ``name=value`` of a query (or of path parameters): "&" and ";" both separate them.
_PARAMETER: Final = re.compile(r"([?&;])([^=&;#?]*)=([^&;#]*)")


def split_userinfo(url: str) -> tuple[str, str | None, str]:
    """``url`` as (scheme, user information, what follows it). The user information is
    everything between "://" and the *last* "@": a password may hold "/", "?", "#", ":" or "@"
    (base64 ones hold "/"), and ``urlsplit`` would end the authority at the first of those,
    read ``user:2024/Spring!@host`` as host ``user`` with port 2024, and print the rest as a
    path. None when there is no "@" after "://" (an "@" later in the URL, in its query, is
    taken for the end of a user part too: what is printed then says less, never more)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return scheme, None, rest
    userinfo, _, after = rest.rpartition("@")
    return scheme, userinfo, after


def _hide_secret_values(url: str) -> str:
    def hidden(match: re.Match[str]) -> str:
        lead, name, _ = match.groups()
        return f"{lead}{name}={HIDDEN}" if SECRET_PARAMETER.search(unquote(name)) else match[0]

    return _PARAMETER.sub(hidden, url)


# The names of query parameters that are credentials beyond doubt, whole (any case): refused
# where a URL would be logged (an OTLP endpoint), where SECRET_PARAMETER's wider net would
# refuse harmless names too (``signal``, ``routing_key``).
# With the prefixes vendors put before them (``x-api-key``, ``dd-api-key``, ``private_token``,
# ``access_key``, ``license_key``), but not any word before ``key`` (``routing_key``).
CREDENTIAL_PARAMETER: Final = re.compile(
    r"(?i)(x[-_])?((api|access|auth|id|refresh|client|private|personal|secret|service|app|"
    r"dd|license|ingest|write|bearer)[-_]?)*"
    r"(key|token|auth(orization)?|secret|pass(word|wd)?|pwd|sig(nature)?|amz-signature|jwt|"
    r"bearer)"
)


def credential_parameters(url: str) -> list[str]:
    """The names of ``url``'s query (or path) parameters that are credentials
    (``CREDENTIAL_PARAMETER``, the whole name), as written."""
    return [
        name
        for _, name, _ in _PARAMETER.findall(url)
        if CREDENTIAL_PARAMETER.fullmatch(unquote(name).strip())
    ]


def safe_url(url: str) -> str:
    """``url`` with any user information replaced by ``***``, the values of secret-looking
    query parameters hidden and the fragment dropped; text that does not parse as a URL is not
    echoed at all."""
    # Parameters first, on the raw text: a secret value holding "@" must not pass for the end
    # of a user part below (and ``;`` separates parameters too, which parse_qsl ignores).
    url = _hide_secret_values(url.strip())
    scheme, userinfo, after = split_userinfo(url)
    if userinfo is not None:
        url = f"{scheme}://{HIDDEN}@{after}"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return UNREADABLE
    if not parts.scheme or not parts.netloc.rpartition("@")[2]:
        return UNREADABLE
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
