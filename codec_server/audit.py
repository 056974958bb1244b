"""One line per decode, download or encode request the codec server answers or refuses: who asked
(the shared token, a user's access token by its subject, or no one in particular where no token
is required), from where, for which namespace, how many payloads, and the answer's status. Never
a payload, a token or a key. A security reviewer asked "who decrypted what": without these lines
the server kept no trace of it (uvicorn's access log is off: paths only)."""

import logging
import sys
from typing import Final

from starlette.requests import Request

log = logging.getLogger("codec_server.audit")
# The subject as a token names it, cut and made printable (it is the caller's text).
MAX_SUBJECT_CHARS: Final = 100

SHARED_TOKEN: Final = "the shared token"
NO_TOKEN_REQUIRED: Final = "anyone (no token required)"
NOT_AUTHENTICATED: Final = "no accepted token"


def shown(text: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """The caller's text as one printable line: cut, and every control or non-printable
    character (an escape sequence, a line break, U+0085) a `?`, so no request can forge or
    erase audit lines (nor a line of the server's own log beside them: an error message can
    quote what a request sent)."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def user(subject: str) -> str:
    return f"user {shown(subject)}"


def record(
    request: Request, action: str, who: str, status: int, payloads: int | None, namespace: str
) -> None:
    """``namespace``: as the request named it (header or path), "-" when it named none."""
    origin = where_from(request)
    count = "?" if payloads is None else str(payloads)
    log.info(
        "%s of %s payload(s) for namespace %s by %s from %s: %d",
        action,
        count,
        shown(namespace),
        who,
        origin,
        status,
    )


def where_from(request: Request) -> str:
    """The connection's address, and an X-Forwarded-For as what the request says, not as its
    address: the server takes no proxy's word for the caller (codec_server/main.py), since
    uvicorn's default believed the header on any connection from this machine, and every caller
    of a server bound to 127.0.0.1 is one, so any local program could name any address."""
    origin = shown(request.client.host) if request.client else "?"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded is not None:
        origin += f" (forwarded for {shown(forwarded)}, as the request says)"
    return origin


def to_stdout() -> None:
    """The audit lines on standard output, each after the server's own prefix."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("codec server: audit: %(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    )
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
