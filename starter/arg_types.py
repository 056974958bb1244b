"""Command-line values checked by argparse, so a bad one is a usage error naming the flag, not a
traceback from deep inside a server."""

import argparse
import socket


def port_number(text: str) -> int:
    """A TCP port: 1-65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65_535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def listen_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (in use, an address this machine does not
    have), found by binding it once, or None. A server then says so in one sentence rather
    than its framework's log line and exit code."""
    try:
        with socket.create_server((host, port)):
            return None
    except OSError as err:
        return f"cannot listen on {host}:{port}: {err.strerror or err}"
