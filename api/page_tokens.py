"""Next-page tokens the API hands out, sealed so it only ever passes its own back to Temporal.

Temporal's visibility token is opaque bytes; a forged one makes some servers fail with an internal
error after retries (a 5xx for a client's typo). So the API seals each token with an HMAC over the
query it belongs to: a token that was not made here, or is used with other filters, is refused
with 400 before Temporal sees it. The key is made when the process starts, so tokens last as long
as the API process (a client that gets 400 after a restart starts from the first page).
"""

import base64
import binascii
import hashlib
import hmac
import secrets

MAC_BYTES = 16


class PageTokenError(ValueError):
    pass


class PageTokens:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, query: str, raw: bytes) -> bytes:
        return hmac.new(self._key, query.encode() + b"\x00" + raw, hashlib.sha256).digest()[
            :MAC_BYTES
        ]

    def seal(self, query: str, raw: bytes) -> str:
        return base64.urlsafe_b64encode(self._mac(query, raw) + raw).decode("ascii")

    def open(self, query: str, token: str) -> bytes:
        try:
            data = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            data = b""
        mac, raw = data[:MAC_BYTES], data[MAC_BYTES:]
        if not raw or not hmac.compare_digest(mac, self._mac(query, raw)):
            raise PageTokenError(
                "page_token is not one this API process gave out for these filters; pass "
                "next_page_token as it came, with the same filters (or start from the first page)"
            )
        return raw
