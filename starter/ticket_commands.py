"""The ticket commands: ``submit`` (starter/submit_command.py), ``status``, ``list``,
``review`` (starter/review_command.py) and ``report``. Each talks to Temporal through
shared.operations and prints through starter.render; errors end in starter.cli.main as one
sentence."""

import argparse

from policy.transitions import AGENT_STATES
from shared import operations as ops
from shared import report as reports
from shared import ticket_listing as listing
from shared.ticket_status import LISTED_STATES, read_ticket
from starter import render, render_status, review_command, submit_command
from starter.arguments import (
    positive_int_up_to,
    since_argument,
    state_argument,
    ticket_id_argument,
)
from starter.connection import open_client
from starter.errors import EXIT_OK, EXIT_PARTIAL, NoWorker

# `list` shows the newest this many tickets unless --limit says otherwise, and says when more
# exist: every ticket listed is a visibility record and a memo to decode.
DEFAULT_LIST_LIMIT = 100


async def cmd_status(args: argparse.Namespace) -> int:
    client = await open_client()
    try:
        reading = await read_ticket(client, args.ticket_id)
    except NoWorker as err:
        indexed = await ops.describe_ticket(client, args.ticket_id)
        facts = ", ".join(x for x in (indexed.category, indexed.priority) if x)
        # A ticket publishes no state between agents: NEW (RESOLVING after a rework) means
        # "with the agents", at whichever step.
        with_agents = indexed.state in AGENT_STATES
        raise NoWorker(
            f"{err} The server indexes ticket {args.ticket_id} as {indexed.state}"
            + (f" ({facts})" if facts else "")
            + (" (with the agents: which step is not indexed)" if with_agents else "")
        ) from None
    if args.json:
        # The view, what the runs this one replaced spent (null for a first run), and the
        # calls a running ticket's workflow waits on.
        render.print_json(
            {
                **reading.view.model_dump(mode="json"),
                # As the API and the text view show it: a ticket stopped from outside says its
                # workflow's status (TERMINATED), not the state it last recorded, which stays in
                # its transitions (AWAITING_REVIEW read as waiting for a review it cannot take).
                "state": reading.state,
                "workflow_status": reading.workflow_status,
                "earlier_runs": reading.earlier_runs,
                "pending_calls": list(reading.pending),
            }
        )
    else:
        render_status.print_status(
            reading.view, reading.state, reading.earlier_runs, reading.pending
        )
    return EXIT_OK


async def cmd_list(args: argparse.Namespace) -> int:
    client = await open_client()
    read = await listing.read_tickets(client, args.state, args.limit)
    summaries = read.tickets
    more = (
        f"More tickets exist: these are the first {len(summaries)} in the server's order, "
        "running ones first (newest started first), then closed ones (newest closed first); "
        "--limit N lists more, and `report` orders the review queue by SLA deadline."
    )
    if args.json:
        render.print_json(summaries)
        if read.more:
            render.console(stderr=True).print(more)
    else:
        title = f"Tickets in {args.state}" if args.state else "Tickets"
        render.console().print(render.summaries_table(summaries, f"{title} ({len(summaries)})"))
        if read.more:
            render.console().print(more)
    if unreadable := sum(s.unreadable for s in summaries):
        render.console(stderr=True).print(
            render.line((render.unreadable_note(unreadable), "yellow"))
        )
    return EXIT_PARTIAL if unreadable else EXIT_OK


async def cmd_report(args: argparse.Namespace) -> int:
    client = await open_client()
    read = await listing.report_tickets(client, args.since)
    report = reports.build_report(read.tickets, since=args.since, left_out=read.left_out)
    if args.json:
        render.print_json(report)
    else:
        render.print_report(report)
    # Its totals leave those tickets out: a script must not take them for the whole.
    return EXIT_PARTIAL if report.unreadable else EXIT_OK


def add_parsers(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    submit_command.add_parser(sub, common)

    p = sub.add_parser("status", parents=[common], help="everything about one ticket")
    p.add_argument("ticket_id", type=ticket_id_argument)
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("list", parents=[common], help="tickets, optionally in one state")
    p.add_argument(
        "--state",
        type=state_argument,
        metavar="STATE",
        help=f"one of {', '.join(LISTED_STATES)} (any case; the last two: stopped from "
        "outside, by `temporal workflow terminate` or a run timeout). A ticket with the agents "
        "is listed as NEW (RESOLVING after a rework): its stage between agents is not "
        "published; `status` shows it",
    )
    p.add_argument(
        "--limit",
        type=positive_int_up_to(listing.REPORT_LIMIT),
        default=DEFAULT_LIST_LIMIT,
        help=f"at most this many: running tickets first, then the most recently closed (default "
        f"{DEFAULT_LIST_LIMIT}; says when more exist)",
    )
    p.set_defaults(handler=cmd_list)

    review_command.add_parser(sub, common)

    p = sub.add_parser(
        "report",
        parents=[common],
        help="counts by state, category and priority; review queue; usage",
    )
    p.add_argument(
        "--since",
        type=since_argument,
        help="only tickets started since then: a time (2026-12-01, 2026-12-01T09:30Z; no zone: "
        f"UTC) or a span back from now (90m, 24h, 7d). The report reads the newest "
        f"{listing.REPORT_LIMIT:,} tickets either way and says how many it left out",
    )
    p.set_defaults(handler=cmd_report)
