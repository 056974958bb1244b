"""Command-line values checked by argparse, so a bad one is a usage error naming the flag, not a
traceback from deep inside a server."""

import argparse


def port_number(text: str) -> int:
    """A TCP port: 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port
