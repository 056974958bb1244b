"""The report's window: ``--since`` as the command line reads it, and the visibility query it
becomes (starter/arguments.py, shared/ticket_listing.py ``ticket_query``)."""

import argparse
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared import ticket_listing as listing
from starter.arguments import since_argument

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30T09:30", datetime(2026, 11, 30, 9, 30, tzinfo=UTC)),
        ("2026-11-30T09:30+01:00", datetime(2026, 11, 30, 8, 30, tzinfo=UTC)),
    ],
)
def test_since_is_a_time_or_a_span_back_from_now(text: str, expected: datetime) -> None:
    assert since_argument(text, now=NOW) == expected


def test_a_span_back_before_year_one_is_refused_not_a_traceback() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="before year 1"):
        since_argument("999999d", now=NOW)


@pytest.mark.parametrize("text", ["yesterday", "24", "5w", "-3d", "2026-13-01"])
def test_anything_else_is_refused_with_both_forms_named(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"90m, 24h, 7d"):
        since_argument(text, now=NOW)


def test_the_window_becomes_a_start_time_bound_in_utc() -> None:
    paris = timezone(timedelta(hours=1))
    query = listing.ticket_query(since=datetime(2026, 12, 1, 10, 0, tzinfo=paris))
    naive = listing.ticket_query(since=datetime(2026, 12, 1, 9, 0))

    assert query.endswith("AND StartTime >= '2026-12-01T09:00:00.000000Z'")
    assert naive == query
    assert "StartTime" not in listing.ticket_query()


def test_the_printed_report_names_its_window_and_what_it_left_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from starter import render
    from tests.unit.test_render_estimates import report

    paris = timezone(timedelta(hours=1))
    windowed = report(tokens=10, estimated=0).model_copy(
        update={"since": datetime(2026, 12, 1, 10, 0, tzinfo=paris), "left_out": 1_234}
    )
    render.print_report(windowed)
    out = capsys.readouterr().out
    render.print_report(report(tokens=10, estimated=0))
    whole = capsys.readouterr().out

    assert "1 ticket(s) started since 2026-12-01 09:00 UTC on this server" in out
    assert "the newest 1 only: 1,234 older ticket(s) left out" in out
    assert "since" not in whole and "left out" not in whole
