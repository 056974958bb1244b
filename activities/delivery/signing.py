"""The webhook signature: HMAC-SHA256 over ``<timestamp>.<body>`` with the shared secret.

docs/delivery.md gives receivers the verification recipe; tests/delivery/test_webhook.py runs
that recipe as the documentation prints it against requests this module signed.
"""

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Ticket-Signature"
TIMESTAMP_HEADER: Final = "X-Ticket-Timestamp"
IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
SCHEME: Final = "v1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The header value: ``v1=<hex HMAC-SHA256 of timestamp + "." + body>``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"
