"""`python -m starter list` reads a bounded number of tickets unless told otherwise
(starter/ticket_commands.py): every ticket listed is a visibility record and a memo to decode."""

from starter.cli import build_parser
from starter.ticket_commands import DEFAULT_LIST_LIMIT


def test_list_reads_the_newest_hundred_unless_a_limit_is_given() -> None:
    parser = build_parser()

    assert parser.parse_args(["list"]).limit == DEFAULT_LIST_LIMIT == 100
    assert parser.parse_args(["list", "--limit", "5000"]).limit == 5000
