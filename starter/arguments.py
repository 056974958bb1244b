"""Argument types the command line shares: a clear message for a value that does not parse."""

import argparse

from policy.transitions import TicketState


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
