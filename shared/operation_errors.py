"""What can go wrong when a client works on tickets, as errors whose message is one sentence a
person can act on. The command-line client prints them (with its exit codes); the HTTP API turns
each kind into its status code (api/errors.py)."""


class OperationError(Exception):
    # The command-line client's exit code for this error (1: an error).
    exit_code = 1


class UsageError(OperationError):
    """A command line that does not make sense (options that do not go together, a value out of
    range), found after parsing: exit 2, as argparse's own refusals, so a script can tell "fix
    the command" from a failure worth trying again."""

    exit_code = 2


class ServerUnreachable(OperationError):
    """The Temporal server did not answer."""


class TicketNotFound(OperationError):
    pass


class ReviewRefused(OperationError):
    """The ticket exists but this review cannot apply: not waiting, stale revision, ..."""


class TicketUnreadable(OperationError):
    """The ticket exists but cannot be read: its worker failed the status query (a workflow
    that no longer replays, a key the worker lacks) or this process cannot decode the answer."""


class WaitGaveUp(OperationError):
    """A command's wait for a run (a batch, a plan, a swarm) reached its --timeout: the run goes
    on on the server. Exit 3, as `submit --wait`'s tickets still in progress."""

    exit_code = 3


class NoWorker(OperationError):
    """The server is there, but no worker processes tickets."""


class ReviewTimeout(OperationError):
    """No worker accepted or refused a review in time; it may still be applied later."""


class ReviewMaybeSent(ReviewTimeout):
    """The connection failed while a review was sent: it may have been applied."""
