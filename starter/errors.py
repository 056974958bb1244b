"""Errors the command-line client reports as one clear sentence, never a stack trace, and its
exit codes. The errors themselves are shared with the HTTP API (shared/operation_errors.py)."""

from shared.operation_errors import (
    NoWorker,
    OperationError,
    ReviewRefused,
    ReviewTimeout,
    ServerUnreachable,
    TicketNotFound,
)

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3  # success; an error; some input lines were invalid

# Every error the client reports: raised by the commands and by shared/operations.py alike.
CliError = OperationError

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "CliError",
    "NoWorker",
    "ReviewRefused",
    "ReviewTimeout",
    "ServerUnreachable",
    "TicketNotFound",
]
