"""Operations commands: ``replay`` (a deploy gate), ``redrive`` (after an outage) and
``gc-payloads`` (stored payloads no workflow needs any more). docs/deploy.md, docs/payloads.md."""

import argparse

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
        type=int,
        default=replay.DEFAULT_LIMIT_PER_TYPE,
        metavar="N",
        help=f"at most this many of each workflow type, newest first (default "
        f"{replay.DEFAULT_LIMIT_PER_TYPE})",
    )
    p.set_defaults(handler=replay.run_replay)
