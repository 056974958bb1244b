"""Errors of the shared stores, each a sentence a person can act on (never with a password)."""


class StoreUnavailable(Exception):
    """The configured database cannot be used: unreachable, refused credentials, no database."""


class StoreBusy(StoreUnavailable):
    """The file payload store's lock stayed held by an erasure or a garbage collection past the
    time a store may wait (under a workflow task's timeout, so the reason reaches the history)."""


class PayloadMissing(LookupError):
    """A stored payload a history refers to is not in this process's payload store."""


class PayloadIntegrityError(ValueError):
    """A stored payload's bytes no longer match the content hash it was stored under."""


class PayloadTooLarge(ValueError):
    """A stored payload is larger than the reader allowed itself (``payloads.read_at_most``):
    not read."""
