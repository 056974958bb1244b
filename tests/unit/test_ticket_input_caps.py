"""What is wrong with one ticket's fields is said in a bounded number of bounded problems,
whatever the input's size: through the command line's JSON Lines files (each still naming its
file and line) as through the HTTP API (tests/api/test_intake_limits.py)."""

import json

from shared.ticket_input import (
    MAX_PROBLEMS_PER_ITEM,
    MAX_QUOTED_CHARS,
    MAX_UNKNOWN_NAMED,
    capped,
    ticket_from_mapping,
)
from starter.inputs import parse_jsonl


def test_every_unknown_key_of_a_line_is_counted_in_one_problem_naming_file_and_line() -> None:
    good = {"ticket_id": "T-1", "subject": "Hi", "body": "Help"}
    many = good | {f"x{i}": i for i in range(15_000)}
    compact = {"separators": (",", ":")}
    data = (json.dumps(good) + "\n" + json.dumps(many, **compact) + "\n").encode()
    assert len(data) < 256 * 1024  # under the line limit: the problems are the point

    tickets, errors = parse_jsonl(data, "tickets.jsonl")

    assert [t.line for t in tickets] == [1]
    [error] = errors
    assert (error.source, error.line) == ("tickets.jsonl", 2)
    assert str(error).startswith(
        "tickets.jsonl:2: unknown fields 'x0', 'x1', 'x2', 'x3', 'x4' "
        f"and {15_000 - MAX_UNKNOWN_NAMED:,} more (known: ticket_id (or id), subject"
    )
    assert len(str(error)) < 400


def test_one_unknown_key_is_named_as_before() -> None:
    _, problems = ticket_from_mapping({"subject": "Hi", "body": "Help", "priority": "High"})

    assert problems == [
        "unknown field 'priority' (known: ticket_id (or id), subject, body, customer_id (or "
        "customer), customer_tier (or tier), channel, customer_email (or email))"
    ]


def test_a_long_key_or_value_is_quoted_back_cut_short() -> None:
    _, unknown = ticket_from_mapping({"subject": "Hi", "body": "Help", "k" * 100_000: 1})
    _, tier = ticket_from_mapping({"subject": "Hi", "body": "Help", "tier": "g" * 100_000})

    assert all(len(p) < 300 for p in [*unknown, *tier])
    assert ("k" * (MAX_QUOTED_CHARS - 2) + "…") in unknown[0]
    assert tier[0].startswith("field 'tier' must be one of free, standard, premium, enterprise")


def test_problems_past_the_limit_are_counted_in_the_last_one() -> None:
    problems = [f"problem {i}" for i in range(25)]

    assert capped(problems, 25) == problems
    assert capped(problems, MAX_PROBLEMS_PER_ITEM) == [
        *problems[: MAX_PROBLEMS_PER_ITEM - 1],
        f"and {25 - MAX_PROBLEMS_PER_ITEM + 1} more problems",
    ]
