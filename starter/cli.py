"""python -m starter: submit tickets, watch them, review them, report on them.

Every command takes --json for scripts. Exit codes: 0 success, 1 error (one sentence on stderr),
2 a command line that does not parse, 3 some input lines were invalid (the valid ones were still
submitted) or tickets were still in progress when --wait gave up.
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from codec_server import main as codec_server_main
from policy.transitions import SETTLED_STATES, TicketState
from shared import operations as ops
from shared import waiting
from shared.review import ReviewAction, ReviewDecision
from shared.view import TicketView
from starter import api_commands, fanout, ops_commands, render
from starter.connection import open_client
from starter.errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_PARTIAL,
    CliError,
    NoWorker,
    debugging,
    explain,
)
from starter.inputs import (
    InputError,
    ParsedTicket,
    read_jsonl,
    ticket_from_mapping,
)

DEFAULT_WAIT_SECONDS = 300.0


# ---- commands ------------------------------------------------------------------------------------


def _tickets_from_args(args: argparse.Namespace) -> tuple[list[ParsedTicket], list[InputError]]:
    if args.files:
        tickets: list[ParsedTicket] = []
        errors: list[InputError] = []
        for name in args.files:
            found, bad = read_jsonl(Path(name))
            tickets += found
            errors += bad
        return tickets, errors
    if args.subject is None or args.body is None:
        raise CliError("give a JSON Lines file, or both --subject and --body")
    raw = {
        "ticket_id": args.id,
        "subject": args.subject,
        "body": args.body,
        "customer_id": args.customer_id,
        "customer_tier": args.tier,
        "channel": args.channel,
        "customer_email": args.customer_email,
    }
    ticket, problems = ticket_from_mapping({k: v for k, v in raw.items() if v is not None})
    if ticket is None:
        return [], [InputError("flags", None, p) for p in problems]
    return [ParsedTicket(ticket, "flags", None)], []


async def cmd_submit(args: argparse.Namespace) -> int:
    parsed, errors = _tickets_from_args(args)
    outcomes: list[ops.SubmitOutcome] = []
    if parsed:
        client = await open_client()
        outcomes = await ops.submit_tickets(client, [p.ticket for p in parsed])
        for outcome, p in zip(outcomes, parsed, strict=True):
            outcome.source, outcome.line = p.source, p.line
    views = {}
    unsettled: list[str] = []
    no_worker: NoWorker | None = None
    if args.wait and outcomes:
        try:
            views = await waiting.wait_settled(
                client, [o.ticket_id for o in outcomes], args.timeout, require_worker=True
            )
        except NoWorker as err:
            no_worker = err  # said after what was submitted
        unsettled = [
            o.ticket_id
            for o in outcomes
            if o.ticket_id not in views or views[o.ticket_id].state not in SETTLED_STATES
        ]
    if args.json:
        render.print_json(
            {
                "submitted": outcomes,
                "errors": [
                    {"source": e.source, "line": e.line, "message": e.message} for e in errors
                ],
                "tickets": list(views.values()),
                "unsettled": unsettled,
            }
        )
    else:
        render.print_submit(outcomes, errors)
        if views:
            render.console().print(render.tickets_table(list(views.values())))
        if unsettled and no_worker is None:
            render.console(stderr=True).print(
                f"{len(unsettled)} ticket(s) still in progress after {args.timeout:.0f}s: "
                + ", ".join(unsettled[:10])
                + (" ..." if len(unsettled) > 10 else "")
            )
    if no_worker is not None:
        raise no_worker
    if errors and not outcomes:
        return EXIT_ERROR
    return EXIT_PARTIAL if errors or unsettled else EXIT_OK


async def cmd_status(args: argparse.Namespace) -> int:
    client = await open_client()
    try:
        view = await ops.ticket_status(client, args.ticket_id)
    except NoWorker as err:
        indexed = await ops.describe_ticket(client, args.ticket_id)
        facts = ", ".join(x for x in (indexed.category, indexed.priority) if x)
        raise NoWorker(
            f"{err} The server indexes ticket {args.ticket_id} as {indexed.state}"
            + (f" ({facts})" if facts else "")
        ) from None
    if args.json:
        render.print_json(view)
    else:
        render.print_status(view)
    return EXIT_OK


async def cmd_list(args: argparse.Namespace) -> int:
    client = await open_client()
    summaries = await ops.list_tickets(client, args.state, args.limit)
    if args.json:
        render.print_json(summaries)
    else:
        title = f"Tickets in {args.state}" if args.state else "Tickets"
        render.console().print(render.summaries_table(summaries, f"{title} ({len(summaries)})"))
    return EXIT_OK


def _decision(args: argparse.Namespace) -> ReviewDecision:
    fields: dict[str, object] = {"reviewer": args.reviewer, "revision": args.revision}
    if args.approve:
        fields["action"] = ReviewAction.APPROVE
    elif args.edit:
        try:
            fields["edited_text"] = Path(args.edit).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CliError(f"cannot read the edited reply from {args.edit}: {err}") from None
        fields["action"] = ReviewAction.EDIT
    elif args.rework:
        fields["action"], fields["notes"] = ReviewAction.REWORK, args.rework
    else:
        fields["action"], fields["reason"] = ReviewAction.REJECT, args.reject
    try:
        return ReviewDecision.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        flag = {"revision": "--revision", "reviewer": "--reviewer"}.get(field, field)
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CliError(f"invalid review: {flag + ': ' if flag else ''}{message}") from None


async def cmd_review(args: argparse.Namespace) -> int:
    decision = _decision(args)
    client = await open_client()
    receipt = await ops.submit_review(client, args.ticket_id, decision)
    # The review is accepted: whatever happens while we watch its effect, it stands.
    try:
        view: TicketView | None = await waiting.wait_review_applied(
            client, args.ticket_id, receipt, timeout=args.timeout
        )
    except CliError as err:
        view = None
        render.console(stderr=True).print(f"warning: {err}")
    if args.json:
        render.print_json({"receipt": receipt, "ticket": view})
        return EXIT_OK
    state = f"; ticket is now {view.state}" if view else ""
    render.console().print(
        f"{receipt.action} accepted for ticket {receipt.ticket_id} "
        f"(draft revision {receipt.revision}){state}"
    )
    if view and view.state == "COMPLETED" and view.delivery:
        render.console().print(f"delivered to {view.delivery.location}")
    return EXIT_OK


async def cmd_report(args: argparse.Namespace) -> int:
    client = await open_client()
    report = ops.build_report(await ops.list_tickets(client))
    if args.json:
        render.print_json(report)
    else:
        render.print_report(report)
    return EXIT_OK


async def cmd_erase(args: argparse.Namespace) -> int:
    from starter.erase import run_erase

    return await run_erase(args)


async def cmd_run(args: argparse.Namespace) -> int:
    from starter.main_job import run_main_job

    return await run_main_job(args)


# ---- parser --------------------------------------------------------------------------------------


def state_argument(text: str) -> TicketState:
    try:
        return TicketState(text.strip().upper())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown state {text!r}; one of {', '.join(TicketState)}"
        ) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")

    parser = argparse.ArgumentParser(
        prog="python -m starter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "submit", parents=[common], help="submit tickets from JSON Lines files or flags"
    )
    p.add_argument("files", nargs="*", help="JSON Lines files, one ticket a line")
    p.add_argument("--subject")
    p.add_argument("--body")
    p.add_argument("--id", help="ticket id (default: derived from the content)")
    p.add_argument("--customer-id")
    p.add_argument("--tier", help="free, standard, premium or enterprise")
    p.add_argument("--channel", help="email, chat, web, phone or api")
    p.add_argument("--customer-email", help="where an answer by e-mail goes")
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait until each ticket completes, fails or awaits review",
    )
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_WAIT_SECONDS, help="seconds to wait (default 300)"
    )
    p.set_defaults(handler=cmd_submit)

    p = sub.add_parser("status", parents=[common], help="everything about one ticket")
    p.add_argument("ticket_id")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("list", parents=[common], help="tickets, optionally in one state")
    p.add_argument(
        "--state",
        type=state_argument,
        metavar="STATE",
        help=f"one of {', '.join(TicketState)} (any case)",
    )
    p.add_argument("--limit", type=positive_int, default=None, help="at most this many")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("review", parents=[common], help="decide on a ticket awaiting review")
    p.add_argument("ticket_id")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--approve", action="store_true", help="send the current draft")
    action.add_argument("--edit", metavar="FILE", help="send this file's text instead of the draft")
    action.add_argument("--rework", metavar="NOTE", help="send back to the resolver with this note")
    action.add_argument("--reject", metavar="REASON", help="close without sending anything")
    p.add_argument(
        "--revision", type=positive_int, help="the draft revision you reviewed (refused if stale)"
    )
    p.add_argument("--reviewer", default="cli", help="your name, for the log")
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to watch the ticket act on the review (default 60)",
    )
    p.set_defaults(handler=cmd_review)

    p = sub.add_parser(
        "report",
        parents=[common],
        help="counts by state, category and priority; review queue; usage",
    )
    p.set_defaults(handler=cmd_report)

    p = sub.add_parser("plan", parents=[common], help="orchestrator-workers: plan a task, run it")
    p.add_argument("task", help="the task, in words")
    p.add_argument("--wait", action="store_true", help="wait and print the plan and the answer")
    p.add_argument("--id", help="workflow id (default: plan-<random>)")
    p.set_defaults(handler=fanout.cmd_plan)

    p = sub.add_parser("swarm", parents=[common], help="one agent over many items (JSON Lines)")
    p.add_argument("file", help="one JSON object a line: text (or review/body), optional id")
    p.add_argument("--concurrency", type=positive_int, default=20, help="items at once (20)")
    p.add_argument("--chunk-size", type=positive_int, default=500, help="items per child (500)")
    p.add_argument(
        "--max-failure-rate", type=float, default=0.1, help="fail the run above this share (0.1)"
    )
    p.add_argument("--output", help="write every item's result to this JSON Lines file")
    p.add_argument("--id", help="workflow id (default: derived from the items)")
    p.set_defaults(handler=fanout.cmd_swarm)

    p = sub.add_parser("batch", parents=[common], help="many tickets as one batch workflow")
    p.add_argument("file", help="tickets, JSON Lines (as for submit)")
    p.add_argument("--window", type=positive_int, default=50, help="tickets in flight (50)")
    p.add_argument(
        "--tickets-per-run", type=positive_int, default=500, help="continue as new after (500)"
    )
    p.add_argument("--wait", action="store_true", help="wait until every ticket rests")
    p.add_argument("--id", help="workflow id (default: derived from the ticket ids)")
    p.set_defaults(handler=fanout.cmd_batch)

    p = sub.add_parser(
        "run", parents=[common], help="the main job: server, worker, sample tickets, report"
    )
    p.add_argument(
        "--file",
        default="samples/tickets.jsonl",
        help="tickets to submit (default: the bundled samples)",
    )
    p.add_argument(
        "--ui-port",
        type=positive_int,
        default=None,
        help="Web UI port of the embedded server (default: its gRPC port + 1000, so 8233)",
    )
    p.add_argument(
        "--codec-port",
        type=positive_int,
        default=None,
        help="port of the codec server the Web UI decrypts through (default: Web UI port + 1)",
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the server and worker running for the Web UI until Ctrl-C",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_SECONDS,
        help="seconds to wait for the tickets (default 300)",
    )
    p.set_defaults(handler=cmd_run)

    api_commands.add_parsers(sub, common)
    ops_commands.add_parsers(sub, common)
    p = sub.add_parser(
        "codec-server",
        help="serve Temporal's remote codec protocol so the Web UI shows tickets decrypted",
    )
    codec_server_main.add_arguments(p)
    # uvicorn runs its own event loop: this command is not a coroutine.
    p.set_defaults(handler=None, blocking=codec_server_main.run)

    p = sub.add_parser(
        "erase",
        parents=[common],
        help="erase one customer's tickets, deliveries and stored payloads (dry run by default)",
    )
    p.add_argument("--customer-id", required=True, help="the customer whose data goes")
    p.add_argument(
        "--yes", action="store_true", help="erase for real (without it: only say what would go)"
    )
    p.set_defaults(handler=cmd_erase)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.handler is None:
        return int(args.blocking(args))
    try:
        return asyncio.run(args.handler(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130
    except Exception as err:
        # Every command's errors end here: one sentence, never a stack trace (unless asked).
        if debugging():
            raise
        message, code = explain(err)
        print(f"error: {message}", file=sys.stderr)
        return code
