"""What uvicorn logs on the API's behalf, kept to what the API's own log lines allow.

- An unexpected error: the API's handler (api/errors.py ``_unexpected``) logs it with a
  reference, pydantic's text redacted (its ``input_value=...`` quotes customer text). Starlette
  re-raises the exception after that handler has answered, and uvicorn then logged it again,
  "Exception in ASGI application" with the whole chained traceback: every message the redaction
  had kept out. That second line keeps its words and loses the traceback.
- The access log: uvicorn writes each request's path with its query string. A client that puts
  an e-mail address in a query (refused with 400 or not) left it in the log, as the trace's
  ``url.query`` did until shared/span_privacy.py dropped it; the access line keeps the path.

Filters on uvicorn's named loggers: they hold whichever server process runs the app, and
uvicorn's logging configuration keeps them.
"""

import logging
from typing import Final

from shared.span_privacy import not_succeeded, shown_path

UVICORN_ERRORS: Final = "uvicorn.error"
UVICORN_ACCESS: Final = "uvicorn.access"
RERAISED: Final = "Exception in ASGI application"
# Set on an exception the API's handler logged (api/errors.py _unexpected).
LOGGED_BY_API: Final = "_ticket_api_logged"


class ReraisedWithoutTraceback(logging.Filter):
    """uvicorn's line for an exception Starlette re-raised, without its traceback: the API
    logged it already, with a reference and redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if getattr(exc, LOGGED_BY_API, False) and str(record.msg).startswith(RERAISED):
            record.msg = f"{RERAISED}: logged above by the API with its reference"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


class PathWithoutQuery(logging.Filter):
    """uvicorn's access line with the path only, and an unsuccessful request's (status 300 or
    more: refused, or redirected before any check) with its first segment only, when that reads
    as a path's word: a path that failed its route's checks, or matched none, is whatever the
    client typed (``/tickets/ana@example.com``). Its arguments are (client, method, path with
    query, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, _, query = args[2].partition("?")
            status = args[4] if len(args) >= 5 else None
            if not_succeeded(status):
                path = shown_path(path, None)
            record.args = (*args[:2], f"{path}?..." if query else path, *args[3:])
        return True


_FILTERS: Final = {UVICORN_ERRORS: ReraisedWithoutTraceback(), UVICORN_ACCESS: PathWithoutQuery()}


def quiet_server_logs() -> None:
    """Install the filters (once per process, however many apps are made)."""
    for name, kept_out in _FILTERS.items():
        logger = logging.getLogger(name)
        if kept_out not in logger.filters:
            logger.addFilter(kept_out)
