"""Command-line values a person may get wrong are usage errors naming the flag (argparse exits
2 with the message), never a traceback from inside a server or the standard library."""

import argparse

import pytest

from starter.arguments import port_number
from starter.durations import MAX_DURATION, parse_duration


@pytest.mark.parametrize("text", ["0", "65536", "99999", "http", "-1"])
def test_a_port_outside_1_to_65535_is_a_usage_error(text: str) -> None:
    # serve --port 99999 was an OverflowError from bind(); codec-server the same.
    with pytest.raises(argparse.ArgumentTypeError, match="is not a port number"):
        port_number(text)


def test_a_port_in_range_is_taken() -> None:
    assert port_number("8480") == 8480


@pytest.mark.parametrize("text", ["99999999999999999999d", "1e400s", "3651d"])
def test_a_duration_beyond_ten_years_is_a_usage_error_however_large(text: str) -> None:
    # 10^20 days overflowed timedelta: a traceback from gc-payloads --grace.
    if "e" in text:
        with pytest.raises(argparse.ArgumentTypeError, match="is not a duration"):
            parse_duration(text)
        return
    with pytest.raises(argparse.ArgumentTypeError, match="is longer than ten years"):
        parse_duration(text)


def test_ten_years_is_the_longest_duration() -> None:
    assert parse_duration("3650d") == MAX_DURATION


def test_a_port_in_use_is_one_sentence_naming_it() -> None:
    # codec-server on a busy port ended with uvicorn's log line and exit code 3, which the
    # README gives to invalid input lines.
    import socket

    from starter.arguments import listen_problem

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        problem = listen_problem("127.0.0.1", port)
    assert problem is not None and problem.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert listen_problem("127.0.0.1", port) is None  # free again
