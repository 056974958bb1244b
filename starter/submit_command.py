"""``submit``: tickets from JSON Lines files or from flags, started on the server, optionally
waited for (then what became of each, and why one that did not settle did not)."""

import argparse
import asyncio
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from policy.transitions import FAILED_STATES, SETTLED_STATES
from shared import names, waiting
from shared import operations as ops
from shared.operation_errors import OperationError
from shared.ticket_status import waiting_on
from starter import inputs, render
from starter.arguments import utf8_text, wait_seconds
from starter.connection import open_client, warn_if_unencrypted
from starter.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    NoWorker,
    UsageError,
)
from starter.inputs import InputError, ParsedTicket, read_jsonl, ticket_from_mapping
from starter.progress import Progress

DEFAULT_WAIT_SECONDS = 300.0
# Where a ticket given by --subject, --body and the other flags comes from, in its errors.
FLAGS_SOURCE = "flags"

# The flags that describe one ticket, by the field each sets (named by flag in its errors).
TICKET_FLAGS = {
    "ticket_id": "--id",
    "subject": "--subject",
    "body": "--body",
    "customer_id": "--customer-id",
    "customer_tier": "--tier",
    "channel": "--channel",
    "customer_email": "--customer-email",
}


def _flag_values(args: argparse.Namespace) -> dict[str, str]:
    return {
        field: value
        for field, flag in TICKET_FLAGS.items()
        if (value := getattr(args, flag.removeprefix("--").replace("-", "_"))) is not None
    }


def _tickets_from_args(args: argparse.Namespace) -> tuple[list[ParsedTicket], list[InputError]]:
    given = _flag_values(args)
    if args.files and given:
        flags = ", ".join(TICKET_FLAGS[f] for f in given)
        raise UsageError(
            f"{flags} describe one ticket and are not read with files; give files or the flags"
        )
    if args.files:
        tickets: list[ParsedTicket] = []
        errors: list[InputError] = []
        # Across files as within one (parse_jsonl): the first place an id appears keeps it.
        first: dict[str, ParsedTicket] = {}
        read: set[Path] = set()
        repeated = 0  # tickets an earlier file gave
        repeated_in = ""  # the last file that gave one again
        for name in args.files:
            path = inputs.resolved(name)
            if path in read:
                # (`exports/*.jsonl day1.jsonl`: each of its tickets listed again, 950,000
                # errors and 416 MiB for a file named 20 times.)
                errors.append(InputError(name, None, "given twice: read once"))
                continue
            read.add(path)
            if len(tickets) >= inputs.MAX_ITEMS_PER_FILE:
                # One command's tickets are held and started at once: as many as one file's.
                errors.append(
                    InputError(
                        name,
                        None,
                        f"not read: the files before it hold {inputs.MAX_ITEMS_PER_FILE:,} "
                        "tickets, as many as one command submits; submit the rest in another",
                    )
                )
                continue
            found, bad = read_jsonl(Path(name))
            errors += bad
            for parsed in found:
                if (earlier := first.setdefault(parsed.ticket.ticket_id, parsed)) is not parsed:
                    repeated, repeated_in = repeated + 1, parsed.source
                    if repeated <= inputs.MAX_BAD_LINES:
                        said = (
                            f"ticket {parsed.ticket.ticket_id} already appears on {earlier.source}"
                        )
                        errors.append(
                            InputError(parsed.source, parsed.line, f"{said}:{earlier.line}")
                        )
                    continue
                tickets.append(parsed)
        if repeated > inputs.MAX_BAD_LINES:
            errors.append(
                InputError(
                    repeated_in,
                    None,
                    f"{repeated - inputs.MAX_BAD_LINES:,} more tickets an earlier file gave were "
                    f"left out besides the {inputs.MAX_BAD_LINES:,} listed",
                )
            )
        if len(tickets) > inputs.MAX_ITEMS_PER_FILE:
            cut = tickets[inputs.MAX_ITEMS_PER_FILE]
            errors.append(
                InputError(
                    cut.source,
                    cut.line,
                    f"not submitted from here on: one command submits at most "
                    f"{inputs.MAX_ITEMS_PER_FILE:,} tickets; submit the rest in another",
                )
            )
            del tickets[inputs.MAX_ITEMS_PER_FILE :]
        return tickets, errors
    if args.subject is None or args.body is None:
        raise UsageError("give a JSON Lines file, or both --subject and --body")
    ticket, problems = ticket_from_mapping(given)
    if ticket is None:
        return [], [InputError(FLAGS_SOURCE, None, _by_flag(p)) for p in problems]
    return [ParsedTicket(ticket, FLAGS_SOURCE, None)], []


def _by_flag(problem: str) -> str:
    """A ticket field's problem, said of the flag that set it."""
    for field, flag in TICKET_FLAGS.items():
        problem = problem.replace(f"field '{field}'", flag)
    return problem


async def cmd_submit(args: argparse.Namespace) -> int:
    parsed, errors = _tickets_from_args(args)
    outcomes: list[ops.SubmitOutcome] = []
    if parsed:
        try:
            client = await open_client()
            await warn_if_unencrypted(client)
            async with Progress(len(parsed), "started") as progress:
                results = await ops.submit_each(
                    client, [p.ticket for p in parsed], on_done=progress.one_done
                )
            started = [r for r in results if isinstance(r, ops.SubmitOutcome)]
            if not started and (
                refused := next((r for r in results if isinstance(r, Exception)), None)
            ):
                raise refused  # nothing went: the server's answer, as before
        except BaseException:
            # The file's own errors first: a server that cannot be reached, one that refused an
            # unencrypted client, or a start that failed hid them.
            render.print_input_errors(errors)
            raise
        # One start the server refused (a rate limit, a timeout) is that ticket's error, named
        # by its line: the whole command once ended on it, the other tickets (started) unlisted.
        for result, p in zip(results, parsed, strict=True):
            if isinstance(result, ops.SubmitOutcome):
                result.source, result.line = p.source, p.line
                outcomes.append(result)
            else:
                said = result.message if isinstance(result, RPCError) else str(result)
                errors.append(
                    InputError(
                        p.source,
                        p.line,
                        f"{p.ticket.ticket_id} was not started: {said}; submit it again",
                    )
                )
    views = {}
    unsettled: list[str] = []
    no_worker: NoWorker | None = None
    # A ticket whose id another ticket holds was not submitted: that one is not waited for.
    own = [o for o in outcomes if not o.conflict]
    if not args.json:
        # Before the wait: Ctrl-C during it printed nothing, and an id derived from the
        # content was never shown.
        render.print_submit(outcomes, errors)
    if args.wait and own:
        try:
            views = await waiting.wait_settled(
                client, [o.ticket_id for o in own], args.timeout, require_worker=True
            )
        except NoWorker as err:
            no_worker = err  # said after what was submitted
        unsettled = [
            o.ticket_id
            for o in own
            if o.ticket_id not in views or views[o.ticket_id].state not in SETTLED_STATES
        ]
    # Stopped from outside (terminated, timed out) before it rested: its view still says the
    # state it last recorded (RESOLVING), and it was reported "still in progress".
    # (Only tickets waited for: with no valid ticket there is no client, and nothing to ask.)
    stopped = await _stopped(client, unsettled[:MAX_STOPPED_CHECKS]) if unsettled else {}
    unsettled = [t for t in unsettled if t not in stopped]
    # Waited for and ended without its answer sent, for the pipeline's reason (a script reading
    # only the exit code must not take them for answered).
    # A stopped ticket whose view could not be read (its query timing out) is failed all the
    # same: it was left out of both lists, and the command exited 0.
    failed = list(
        dict.fromkeys([i for i, view in views.items() if view.state in FAILED_STATES] + [*stopped])
    )
    if args.json:
        render.print_json(
            {
                "submitted": outcomes,
                "errors": render.input_errors_json(errors),
                "tickets": list(views.values()),
                "unsettled": unsettled,
                "failed": failed,
                "stopped": stopped,
            }
        )
    else:
        if views:
            render.console().print(render.tickets_table(list(views.values())))
        if unsettled and no_worker is None:
            render.console(stderr=True).print(
                f"{len(unsettled)} ticket(s) still in progress after {args.timeout:.0f}s: "
                + render.some_ids(unsettled)
            )
            for said in await _unpolled_waits(client, unsettled[:10]):
                render.console(stderr=True).print(render.line((said, "yellow")))
        if stopped:
            kinds = ", ".join(sorted(set(stopped.values())))
            render.console(stderr=True).print(
                f"{len(stopped)} ticket(s) stopped from outside before they rested ({kinds}; "
                "the table shows the state each last recorded): " + render.some_ids(list(stopped))
            )
        if by_the_pipeline := [i for i in failed if i not in stopped]:
            render.console(stderr=True).print(
                f"{len(by_the_pipeline)} ticket(s) failed (the reason is in the table; "
                "`python -m starter status ID` for the whole ticket): "
                + render.some_ids(by_the_pipeline)
            )
    if no_worker is not None:
        raise no_worker
    if not args.files and not parsed and errors:
        # The ticket given by flags was refused for a flag's value (an empty --body, a --tier
        # that is no tier): a command line that does not parse, every flag's problem named.
        return EXIT_USAGE
    if (errors or outcomes) and not own:
        return EXIT_ERROR
    conflicts = len(outcomes) - len(own)
    return EXIT_PARTIAL if errors or unsettled or conflicts or failed else EXIT_OK


# Tickets not at rest after a wait whose workflow status is asked (one describe each).
MAX_STOPPED_CHECKS = 100


async def _stopped(client: Client, ticket_ids: list[str]) -> dict[str, str]:
    """Of tickets not at rest, those whose workflow was stopped from outside, with its status
    (TERMINATED, TIMED_OUT, ...)."""

    async def status(ticket_id: str) -> str | None:
        try:
            described = await client.get_workflow_handle(
                names.ticket_workflow_id(ticket_id)
            ).describe()
        except RPCError:
            return None  # said as not at rest, as before
        name = described.status.name if described.status else None
        return name if name not in (None, "RUNNING", "CONTINUED_AS_NEW") else None

    found = await asyncio.gather(*(status(t) for t in ticket_ids))
    return {t: s for t, s in zip(ticket_ids, found, strict=True) if s is not None}


async def _unpolled_waits(client: Client, ticket_ids: list[str]) -> list[str]:
    """Why tickets that did not rest may never: a call of theirs waits on a queue no worker
    polls (`status` says so; the wait said only "still in progress")."""
    queues: dict[str, list[str]] = {}
    for ticket_id in ticket_ids:
        try:
            calls = await waiting_on(client, ticket_id)
        except (OperationError, RPCError):
            continue  # the table says what it can; this is a hint
        for call in calls:
            if call.polled is False:
                queues.setdefault(call.task_queue, []).append(ticket_id)
    return [
        f"{render.some_ids(ids)} wait(s) on {queue}, which no worker polls: start one that does "
        f"(`python -m worker --queues {queue}`, or a worker whose configuration routes to it)"
        for queue, ids in sorted(queues.items())
    ]


def add_parser(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "submit", parents=[common], help="submit tickets from JSON Lines files or flags"
    )
    p.add_argument("files", nargs="*", help="JSON Lines files, one ticket a line")
    p.add_argument("--subject", type=utf8_text)
    p.add_argument("--body", type=utf8_text)
    p.add_argument("--id", type=utf8_text, help="ticket id (default: derived from the content)")
    p.add_argument("--customer-id", type=utf8_text)
    p.add_argument("--tier", type=utf8_text, help="free, standard, premium or enterprise")
    p.add_argument("--channel", type=utf8_text, help="email, chat, web, phone or api")
    p.add_argument("--customer-email", type=utf8_text, help="where an answer by e-mail goes")
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait until each ticket rests: completed, rejected, closed unanswered, failed, "
        "delivery failed, cancelled, or awaiting a person",
    )
    p.add_argument(
        "--timeout",
        type=wait_seconds,
        default=DEFAULT_WAIT_SECONDS,
        help="seconds to wait (default 300)",
    )
    p.set_defaults(handler=cmd_submit)
