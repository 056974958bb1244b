"""Errors the command-line client reports as one clear sentence, never a stack trace, and its
exit codes."""

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 3  # success; an error; some input lines were invalid


class CliError(Exception):
    exit_code = 1


class ServerUnreachable(CliError):
    pass


class TicketNotFound(CliError):
    pass


class ReviewRefused(CliError):
    pass


class NoWorker(CliError):
    """The server is there, but no worker processes tickets."""
