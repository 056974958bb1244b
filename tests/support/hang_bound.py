"""Run a snippet of Python in a process of its own with a bound, for tests that a pattern or a
parser never runs for long: Python's ``re`` holds the interpreter for a whole match, so one that
went bad would hang the suite instead of failing its test. The bound is a hang's, not a speed
target (the code under test takes milliseconds)."""

import subprocess
import sys

import pytest

HANG_BOUND_SECONDS = 30


def finishes_apart(code: str, text: str, what: str) -> str:
    """``code`` run with ``text`` (read from stdin into ``text``) in a fresh interpreter; its
    output. Fails the test when it does not finish within HANG_BOUND_SECONDS or fails."""
    script = f"import sys; text = sys.stdin.read(); {code}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=text,
            capture_output=True,
            text=True,
            timeout=HANG_BOUND_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not finish in {HANG_BOUND_SECONDS} s")
    assert done.returncode == 0, done.stderr
    return done.stdout
