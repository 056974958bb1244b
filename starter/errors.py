"""Errors the command-line client reports as one clear sentence, never a stack trace, and its
exit codes. ``explain`` is the one place that turns any exception a command raises (the SDK's,
the payload store's, the configuration's) into that sentence. The errors themselves are shared
with the HTTP API (shared/operation_errors.py)."""

import os
import re

from temporalio.client import (
    RPCTimeoutOrCancelledError,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, TemporalError
from temporalio.service import RPCError, RPCStatusCode

from shared.encryption.codec import (
    PayloadDecryptionError,
    UnknownEncryptionKey,
    why_undecryptable,
)
from shared.operation_errors import (
    NoWorker,
    OperationError,
    ReviewRefused,
    ReviewTimeout,
    ServerUnreachable,
    TicketNotFound,
    UsageError,
    WaitGaveUp,
)
from shared.payload_store import PayloadStoreError
from shared.search_attribute_setup import SearchAttributeSetupError
from shared.settings import ConfigError
from shared.stores.errors import PayloadIntegrityError, PayloadMissing, StoreUnavailable
from shared.temporal_client import ClientConfigError

# success; an error; some input lines were invalid, tickets were still unsettled after --wait,
# or some tickets could not be decrypted (a listing or report without them)
EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3
# A command line that does not parse, as argparse's own errors (README's exit codes).
EXIT_USAGE = 2
# Set to see the stack trace of an unexpected error (for a bug report).
DEBUG_VARIABLE = "TICKETS_DEBUG"

# Every error the client reports: raised by the commands and by shared/operations.py alike.
CliError = OperationError

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "CliError",
    "NoWorker",
    "ReviewRefused",
    "ReviewTimeout",
    "ServerUnreachable",
    "TicketNotFound",
    "UsageError",
    "WaitGaveUp",
    "explain",
]


def _one_line(text: str, limit: int = 400) -> str:
    line = re.sub(r"\s+", " ", text).strip()
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _rpc(err: RPCError) -> str:
    message = _one_line(err.message)
    if "no mapping defined for search attribute" in message:
        return (
            f"the server does not know the ticket search attributes yet ({message}); start "
            "`python -m worker` once, or submit a ticket: both register them"
        )
    if err.status == RPCStatusCode.UNAVAILABLE:
        return f"the Temporal server is not available: {message}"
    if err.status in (RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED):
        return (
            f"the Temporal server refused the request ({err.status.name.lower()}): {message}; "
            "check TEMPORAL_API_KEY or the TLS settings"
        )
    if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        # A server that stopped answering ends the call as CANCELLED ("Timeout expired"): it
        # read "the Temporal server answered: Timeout expired".
        return f"the Temporal server did not answer in time: {message}"
    return f"the Temporal server answered: {message}"


def _failure(err: WorkflowFailureError | WorkflowUpdateFailedError) -> str:
    cause = err.cause
    while cause is not None and not isinstance(cause, ApplicationError) and cause.__cause__:
        cause = cause.__cause__  # type: ignore[assignment]
    return _one_line(str(cause.message if isinstance(cause, TemporalError) else cause or err))


def explain(err: BaseException) -> tuple[str, int]:
    """The sentence to print after ``error: `` and the exit code, for any exception."""
    if isinstance(err, CliError):
        return str(err), err.exit_code
    if isinstance(err, ClientConfigError | ConfigError):
        return f"configuration error: {_one_line(str(err))}", EXIT_ERROR
    if isinstance(err, SearchAttributeSetupError):
        return _one_line(str(err)), EXIT_ERROR
    if isinstance(err, StoreUnavailable):
        return _one_line(str(err)), EXIT_ERROR
    if isinstance(err, UnknownEncryptionKey | PayloadDecryptionError):
        return (
            f"a payload could not be decrypted: {_one_line(why_undecryptable(err))}",
            EXIT_ERROR,
        )
    if isinstance(err, PayloadStoreError | PayloadMissing | PayloadIntegrityError):
        return (
            f"a payload kept outside the history could not be read: {_one_line(str(err))}",
            EXIT_ERROR,
        )
    if isinstance(err, WorkflowQueryFailedError):
        return (
            f"the worker could not answer the query: {_one_line(err.message)} "
            "(see the worker's log)",
            EXIT_ERROR,
        )
    if isinstance(err, WorkflowQueryRejectedError):
        return "the workflow no longer answers queries in its current state", EXIT_ERROR
    if isinstance(err, WorkflowUpdateFailedError):
        return f"the workflow refused the request: {_failure(err)}", EXIT_ERROR
    if isinstance(err, WorkflowFailureError):
        return f"the workflow failed: {_failure(err)}", EXIT_ERROR
    if isinstance(err, RPCTimeoutOrCancelledError):
        return "the Temporal server did not answer in time; try again", EXIT_ERROR
    if isinstance(err, RPCError):
        return _rpc(err), EXIT_ERROR
    if isinstance(err, OSError):
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror or err}", EXIT_ERROR
    # Anything else is a bug: still one sentence, and the way to the full story.
    cause = err.__cause__
    if isinstance(
        cause,
        PayloadStoreError
        | PayloadMissing
        | PayloadIntegrityError
        | StoreUnavailable
        | UnknownEncryptionKey
        | PayloadDecryptionError
        | RPCError
        | ClientConfigError,
    ):
        return explain(cause)
    return (
        f"unexpected {type(err).__name__}: {_one_line(str(err))} (set {DEBUG_VARIABLE}=1 for "
        "the stack trace, and please report it)",
        EXIT_ERROR,
    )


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in {"1", "true", "yes"}
