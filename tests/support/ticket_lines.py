"""JSON Lines input for tests of reading tickets: one line's bytes, a valid ticket's, a file's."""

import json
from typing import Any


def line(**fields: Any) -> bytes:
    return json.dumps(fields).encode("utf-8")


def good(ticket_id: str, **extra: Any) -> bytes:
    return line(ticket_id=ticket_id, subject=f"Subject {ticket_id}", body="Please help.", **extra)


def jsonl(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"
