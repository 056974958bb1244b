"""Argument types the command line shares, checked by argparse: a value that does not parse is a
usage error naming the flag, not a traceback from deep inside a client or a server."""

import argparse
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from api.accounts import Role
from policy.transitions import TicketState
from shared import names
from shared.orchestration import MAX_TASK_CHARS
from shared.review import run_id_chain
from shared.swarm import MAX_CHUNK_SIZE
from shared.temporal_client import MAX_PORT
from shared.ticket_status import StoppedState, listed_state
from shared.tickets import MAX_CUSTOMER_ID_CHARS, MAX_EMAIL_CHARS, TICKET_ID_PATTERN
from shared.time_window import since_moment


def role_argument(text: str) -> Role:
    """An API token's role by name (argparse said "invalid Role value: 'superuser'")."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        *others, last = (r.value for r in Role)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a role: give {', '.join(others)} or {last}"
        ) from None


def state_argument(text: str) -> TicketState | StoppedState:
    try:
        return listed_state(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def positive_int_up_to(limit: int) -> Callable[[str], int]:
    """``positive_int`` with an upper bound (a 26-digit --limit was taken as given)."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:,}, got {text[:40]}")
        return value

    return parse


# The longest wait a command takes: a week, in seconds.
MAX_WAIT_SECONDS = 7 * 24 * 3600


def wait_seconds(text: str) -> float:
    """A --timeout: a finite number of seconds from 0 (do not wait: say where things stand) to a
    week."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value <= MAX_WAIT_SECONDS:  # also refuses nan
        raise argparse.ArgumentTypeError(
            f"must be from 0 to {MAX_WAIT_SECONDS:,} seconds, got {text}"
        )
    return value


def since_argument(text: str, now: datetime | None = None) -> datetime:
    """A point in time: an ISO 8601 date or date and time (no zone: UTC), or a span back from
    now: 90m, 24h, 7d (shared/time_window.py)."""
    try:
        return since_moment(text, now)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def port_number(text: str) -> int:
    """A TCP port: 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-{MAX_PORT})")
    return port


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (in use, an address this machine does not
    have), found by binding it once, or None. A server then says so in one sentence rather
    than its framework's log line and exit code."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as err:
        return f"cannot listen on {host}:{port}: {err.strerror or err}"
    except OverflowError:
        return f"cannot listen on {host}:{port}: a port is from 1 to 65535"


def utf8_text(text: str) -> str:
    """A flag's text (a ticket's --subject, --body ...): refused as a usage error when the shell
    handed over bytes that are not UTF-8 (it said "a lone surrogate like \\ud800")."""
    return _utf8(text, "value")


def _utf8(text: str, what: str) -> str:
    """Arguments arrive decoded with surrogate escapes: bytes that were not UTF-8 are refused
    here, not by an encoder deep in a client."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"the {what} is not UTF-8 text") from None
    return text


def _matching(text: str, pattern: str, what: str, rule: str) -> str:
    if not re.fullmatch(pattern, _utf8(text, what)):
        raise argparse.ArgumentTypeError(
            f"{text[:80]!r} is not a {what} ({rule}, starting with a letter or digit)"
        )
    return text


def ticket_id_argument(text: str) -> str:
    """A ticket id as tickets have them: 1-64 letters, digits, '.', '_' or '-'."""
    return _matching(text, TICKET_ID_PATTERN, "ticket id", "1-64 letters, digits, '.', '_' or '-'")


def chain_argument(text: str) -> str | None:
    """A ticket's chain as `status` prints it (its first run id; "" for none)."""
    try:
        return run_id_chain(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:64]!r} is not a ticket's chain: give the chain `status` prints (a run id)"
        ) from None


def moment_argument(text: str) -> datetime:
    """A moment as `status` prints it (ISO 8601 with its UTC offset: the workflow compares the
    moment). Refused by argparse (exit 2) with the form it takes: a bad --waiting-since was
    an exit 1 with pydantic's "input is too short"."""
    form = "a moment as `status` prints it, like 2026-12-06T09:00:00+00:00"
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:64]!r} is not {form}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text[:64]!r} has no UTC offset: give {form}")
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{text[:64]!r} cannot be said in UTC") from None
    return moment


def customer_id_argument(text: str) -> str:
    """--customer-id, checked by argparse (exit 2, as every other bad flag value): bytes that
    are not UTF-8 stopped erase with an "unexpected UnicodeEncodeError" after it had read every
    ticket. A control character is taken: intake refuses one since 2026-12-06, but tickets
    taken before (and started by programs) may hold one, and erase must find them."""
    customer_id = _utf8(text, "customer id").strip()
    if not customer_id or len(customer_id) > MAX_CUSTOMER_ID_CHARS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_CUSTOMER_ID_CHARS} characters")
    return customer_id


def email_argument(text: str) -> str:
    """--email, checked by argparse (exit 2), in the case every comparison uses."""
    email = _utf8(text, "address").strip().casefold()
    if "@" not in email or len(email) > MAX_EMAIL_CHARS:
        raise argparse.ArgumentTypeError(
            f"{text[:64]!r} is not one address of at most {MAX_EMAIL_CHARS} characters"
        )
    return email


# A workflow id given by hand (--id of plan, swarm, batch): what the Web UI and the CLI can show
# and type back; Temporal's own limit is much wider.
WORKFLOW_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}"


def workflow_id_argument(text: str) -> str:
    rule = "1-200 letters, digits, '.', '_', ':', '@' or '-'"
    workflow_id = _matching(text, WORKFLOW_ID_PATTERN, "workflow id", rule)
    if workflow_id.startswith(names.RESERVED_ID_PREFIXES):
        # `batch --id ticket-T-1002` started a batch in that ticket's place: the ticket was
        # lost to status, and a later submit of it was taken for a duplicate.
        taken = next(p for p in names.RESERVED_ID_PREFIXES if workflow_id.startswith(p))
        raise argparse.ArgumentTypeError(
            f"workflow ids starting {taken!r} are the tickets' and the rate controllers': "
            "choose another"
        )
    return workflow_id


def task_argument(text: str) -> str:
    """An orchestrator's task: words, at most MAX_TASK_CHARS."""
    if not _utf8(text, "task").strip():
        raise argparse.ArgumentTypeError("the task is empty: say what to do")
    if len(text) > MAX_TASK_CHARS:
        raise argparse.ArgumentTypeError(
            f"the task is {len(text):,} characters; at most {MAX_TASK_CHARS:,}"
        )
    return text


def setting_argument(model: type[BaseModel], field: str) -> Callable[[str], Any]:
    """An option that sets ``field`` of ``model``: checked against the field's own type and
    bounds as the command line is read, so a value out of range is a usage error (exit 2)
    naming the option, before any file is read (it was exit 1, after reading the file)."""
    info = model.model_fields[field]
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[info.annotation, *info.metadata])

    def parse(text: str) -> Any:
        try:
            return adapter.validate_strings(text)
        except ValidationError as err:
            said = err.errors()[0]["msg"]
            raise argparse.ArgumentTypeError(f"{said[:1].lower()}{said[1:]}, got {text}") from None

    parse.__name__ = field.replace("_", " ")  # argparse's "invalid <name> value" names it
    return parse


def add_setting(
    parser: argparse.ArgumentParser, flag: str, model: type[BaseModel], field: str, what: str
) -> None:
    """``flag`` for ``field`` of ``model``: its type and bounds (setting_argument) and its
    default from the model, said in the help with the bounds."""
    info = model.model_fields[field]
    # The field's bounds as pydantic keeps them (annotated_types' Ge and Le).
    low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in info.metadata if hasattr(m, "le")), None)
    said = f"{info.default:,}" + (f"; {low:,} to {high:,}" if low is not None and high else "")
    parser.add_argument(
        flag, type=setting_argument(model, field), default=info.default, help=f"{what} ({said})"
    )


def chunk_size_argument(text: str) -> int:
    """A swarm's --chunk-size: 1 to MAX_CHUNK_SIZE items per child workflow."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number") from None
    if not 1 <= value <= MAX_CHUNK_SIZE:
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_CHUNK_SIZE:,} (a child's history stays well under Temporal's "
            f"limits), got {value:,}"
        )
    return value
