"""Worker log lines without customer text from failures.

The Temporal SDK logs every failed activity attempt ("Completing activity as failed", WARNING,
on ``temporalio.activity``) and every failed workflow task ("Failed activation on workflow ...",
on ``temporalio.worker._workflow_instance``) with the exception attached: its message and its
traceback, whose last line repeats the message. A failure's message may quote a ticket: a mail
server's ``550 5.1.1 <jane.roe@example.com>: Recipient address rejected``, a validation error
quoting the input. ``WithholdFailureText`` keeps such a line, the activity or workflow it is
about (the SDK's ids and types) and the exception's type (an ApplicationError's ``type`` too),
and drops the message and the traceback. The whole failure is not lost: it travels encrypted in
the workflow's history (``DefaultFailureConverterWithEncodedAttributes``), readable through the
codec server or the CLI with the key ring (docs/privacy.md).

``install()`` puts the filter on the SDK loggers that write such lines; the worker calls it
where it configures logging. A filter on a logger sees the records logged on that logger, so it
works whatever handlers the process has.
"""

import logging
import re
from typing import Final

from temporalio.exceptions import ApplicationError

from shared.encryption.codec import PayloadDecryptionError, UnknownEncryptionKey

# The loggers of the SDK's activity and workflow machinery (module names in temporalio 1.x:
# ``temporalio.activity.logger`` is an adapter over the first; the others are each module's
# ``logging.getLogger(__name__)``).
SDK_FAILURE_LOGGERS: Final = (
    "temporalio.activity",
    "temporalio.worker._activity",
    "temporalio.worker._workflow",
    "temporalio.worker._workflow_instance",
)
# Lines the SDK writes with the error's text in the message itself: what comes before it is kept.
_QUOTING: Final = (
    re.compile(r"(Exception handling failed), original error: "),
    re.compile(r"(Completing as failure during heartbeat with error of type <class '[\w.]+'>): "),
)
# The SDK's lines about a failure of the project's own code (an activity, a workflow task, a
# signal's input), whose exception may quote a ticket and is kept, encrypted, in the history.
# Other lines with an exception (the SDK's own trouble: completing a task, recording a heartbeat)
# are left whole: their text is nowhere else, and it is the SDK's, not a ticket's.
FAILURE_PREFIXES: Final = (
    "Completing activity as failed",
    "Failed activation on workflow",
    "Failed handling activation on workflow",
    "Failed deserializing signal input",
)
# Every line of the workflow instance's logger with an exception is about workflow code (its
# event loop's handler lists the failed task's repr, which quotes the error).
WORKFLOW_CODE_LOGGER: Final = "temporalio.worker._workflow_instance"
WITHHELD: Final = "message and traceback withheld from the log (they may quote customer text)"
_MAX_CAUSES: Final = 5
# Errors whose message the project writes itself from ids only: kept, as they say what to do (a
# missing key's id) and nothing else says it (the history's failure is encrypted with the ring).
OWN_WORDS: Final = (UnknownEncryptionKey, PayloadDecryptionError)


def _kind(error: BaseException) -> str:
    name = type(error).__name__
    if isinstance(error, ApplicationError) and error.type:
        return f"{name}({error.type})"
    return name


def kinds(error: BaseException) -> str:
    """The exception's type and its causes' ("ActivityError <- ApplicationError(Rejected)")."""
    chain: list[str] = []
    current: BaseException | None = error
    while current is not None and len(chain) < _MAX_CAUSES:
        chain.append(_kind(current))
        current = current.__cause__
    return " <- ".join(chain)


def own_words(error: BaseException) -> str | None:
    """The message of an OWN_WORDS error in ``error``'s chain (causes and contexts), if any."""
    current: BaseException | None = error
    for _ in range(_MAX_CAUSES):
        if current is None:
            return None
        if isinstance(current, OWN_WORDS):
            return str(current)
        current = current.__cause__ or current.__context__
    return None


class WithholdFailureText(logging.Filter):
    """Rewrites a record about a failure of the project's code that carries an exception
    (``FAILURE_PREFIXES``, the workflow instance's logger), or one that quotes an error, to its
    first line (the ids), the exception's type and nothing of its message or traceback. Other
    records pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message: its bare text
            message = str(record.msg)
        quoted = next((m for m in (p.match(message) for p in _QUOTING) if m), None)
        if error is None and quoted is None:
            return True
        about_our_code = record.name == WORKFLOW_CODE_LOGGER or message.startswith(FAILURE_PREFIXES)
        if quoted is None and not about_our_code:
            return True
        if quoted is not None:
            kept = quoted.group(1)
            # The activity adapter appended its ids after the error's text: put them back.
            details = getattr(record, "temporal_activity", None)
            kept += f" ({details})" if details else ""
        else:
            # The SDK's own first line names the activity or workflow; what follows a newline
            # (the event loop's handler lists the failed task's repr) may quote the error.
            kept = message.split("\n", 1)[0]
        what = f"{kinds(error)}: " if error is not None else ""
        said = own_words(error) if error is not None else None
        record.msg = f"{kept} [{what}{said or WITHHELD}]"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


_FILTER: Final = WithholdFailureText()


# Libraries that log what a request carries below WARNING: httpx and httpcore (and httpx2 and
# httpcore2, which the provider SDKs, the webhook and the codec server use) every request's
# full URL at INFO (a Slack, Teams or Discord webhook's secret path; a provider's ``?api-key=``),
# the provider SDKs a request's options at DEBUG (the whole prompt: the ticket), aiosmtplib the
# SMTP conversation at DEBUG (addresses, the answer). ``--log-level INFO`` or ``DEBUG`` on the
# worker is for the project's own lines: these stay at WARNING whatever it says.
QUIET_LIBRARY_LOGGERS: Final = (
    "httpx",
    "httpcore",
    "httpx2",
    "httpcore2",
    "openai",
    "anthropic",
    "aiosmtplib",
)


def install() -> None:
    """Puts the filter on the SDK's failure loggers (once, however often it is called), and
    keeps the libraries that would log request contents at WARNING."""
    for name in SDK_FAILURE_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for name in QUIET_LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
