"""URLs made safe to print: start-up lines, errors and logs never show a credential that was
embedded in an endpoint (``https://user:secret@host/v1``, ``...?api_key=secret``)."""

import re
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

HIDDEN: Final = "***"
# Query parameters whose value is a credential in the services a base URL may point at
# (gateways, signed URLs, libpq): matched on the parameter's name, any case.
SECRET_PARAMETER: Final = re.compile(
    r"(?i)(key|token|secret|password|passwd|pwd|sig|signature|auth|credential|session)"
)


def safe_url(url: str) -> str:
    """``url`` with any user information replaced by ``***`` and the values of secret-looking
    query parameters hidden; text that does not parse as a URL is not echoed at all."""
    try:
        parts = urlsplit(url)
        hostport = parts.netloc.rpartition("@")[2]
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "(an unreadable URL)"
    if not parts.scheme or not hostport:
        return "(an unreadable URL)"
    netloc = f"{HIDDEN}@{hostport}" if "@" in parts.netloc else hostport
    query = urlencode(
        [
            (name, HIDDEN if SECRET_PARAMETER.search(name) else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
