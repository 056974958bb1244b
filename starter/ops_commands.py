"""Operations commands: ``replay`` (a deploy gate), ``redrive`` (after an outage) and
``gc-payloads`` (stored payloads no workflow needs any more). docs/deploy.md, docs/payloads.md."""

import argparse

from starter.arguments import positive_int_up_to, ticket_id_argument
from starter.durations import parse_duration


def add_parsers(
    sub: "argparse._SubParsersAction[argparse.ArgumentParser]", common: argparse.ArgumentParser
) -> None:
    from starter import replay

    p = sub.add_parser(
        "replay",
        parents=[common],
        help="replay recent histories against this code; exit 1 on a non-deterministic change",
    )
    p.add_argument(
        "--since",
        type=parse_duration,
        default=replay.DEFAULT_SINCE,
        metavar="DURATION",
        help="workflows started this recently (and every running one); default 7d",
    )
    p.add_argument(
        "--limit-per-type",
        type=positive_int_up_to(replay.MAX_LIMIT_PER_TYPE),
        default=replay.DEFAULT_LIMIT_PER_TYPE,
        metavar="N",
        help=f"at most this many of each workflow type, newest first (default "
        f"{replay.DEFAULT_LIMIT_PER_TYPE})",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="exit 0 when there is nothing to replay (a new deployment); without it that is an "
        "error: a gate that replayed nothing proved nothing (another namespace, a short --since)",
    )
    p.set_defaults(handler=replay.run_replay)

    from starter import redrive

    p = sub.add_parser(
        "redrive",
        parents=[common],
        help="after an outage: restart FAILED tickets, redeliver DELIVERY_FAILED ones from the "
        "ledger; restart UNANSWERED ones for review again (dry run by default)",
    )
    p.add_argument(
        "--state",
        required=True,
        type=redrive.redrivable_state,
        metavar="STATE",
        help="FAILED (start again from the input), UNANSWERED (the same, to be reviewed again) "
        "or DELIVERY_FAILED (send the recorded answer)",
    )
    p.add_argument(
        "--since",
        type=parse_duration,
        default=redrive.DEFAULT_SINCE,
        metavar="DURATION",
        help="tickets that ended this recently (default 24h)",
    )
    p.add_argument(
        "--limit",
        type=positive_int_up_to(redrive.MAX_LIMIT),
        default=redrive.DEFAULT_LIMIT,
        metavar="N",
        help=f"at most this many tickets (default {redrive.DEFAULT_LIMIT:,})",
    )
    p.add_argument(
        "--yes", action="store_true", help="redrive for real (without it: only say what it would)"
    )
    p.add_argument(
        "--arrived",
        action="append",
        default=[],
        type=ticket_id_argument,
        metavar="ID",
        help="a ticket whose answer may have been delivered, which you found at its destination: "
        "recorded sent, and the ticket completes (repeatable)",
    )
    p.add_argument(
        "--not-arrived",
        action="append",
        default=[],
        type=ticket_id_argument,
        metavar="ID",
        help="a ticket whose answer may have been delivered, which you found did not arrive: "
        "sent again, with the same idempotency key (repeatable)",
    )
    p.set_defaults(handler=redrive.run_redrive)

    from shared.payload_gc import DEFAULT_GRACE
    from starter import gc_payloads

    p = sub.add_parser(
        "gc-payloads",
        parents=[common],
        help="delete stored payloads no open or retained workflow refers to (dry run by default)",
    )
    p.add_argument(
        "--grace",
        type=parse_duration,
        default=DEFAULT_GRACE,
        metavar="DURATION",
        help="leave alone what was stored this recently (default 1h, at least 1m)",
    )
    p.add_argument(
        "--yes", action="store_true", help="delete for real (without it: only say what would go)"
    )
    p.add_argument(
        "--schedule",
        type=gc_payloads.schedule_argument,
        metavar="EVERY",
        help="instead of collecting now, run the collection every EVERY (e.g. 1d, at least 1h) "
        "on a Temporal schedule, on the tickets queue's workers, with this --grace (needs --yes; "
        "run again to change it; off: remove it)",
    )
    p.add_argument(
        "--unschedule", action="store_true", help="remove the schedule --schedule created"
    )
    p.add_argument(
        "--data-directory",
        action="store_true",
        help="on a database (TICKETS_DATABASE_URL), also collect the files this machine's data "
        "directory kept from before it (run it on the machine whose stack moved: another "
        "stack's files there would be judged against this server's workflows)",
    )
    p.set_defaults(handler=gc_payloads.run_gc)
