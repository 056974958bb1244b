"""Errors the command-line client reports as one clear sentence, never a stack trace."""


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
