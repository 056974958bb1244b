"""Run before anything else by the project's entry points (``python -m starter``, ``python -m
worker``, ``python -m bench``): a Python without the project's packages (the system's, outside
``.venv``) gets one sentence saying what to run instead of an import traceback. Standard library
only: it runs before any dependency is imported."""

import importlib.util
import sys

# The packages every entry point imports first; one missing means the wrong interpreter.
REQUIRED = ("temporalio", "pydantic")


def missing_packages() -> list[str]:
    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def require_project_python(command: str) -> None:
    """Exit 2 with one sentence when this interpreter lacks the project's packages."""
    missing = missing_packages()
    if not missing:
        return
    sys.stderr.write(
        f"error: {sys.executable} does not have the project's packages ({', '.join(missing)} "
        f"missing): run `make run` once (it creates .venv), then `. .venv/bin/activate` and "
        f"`python -m {command}` again, or run `.venv/bin/python -m {command}`\n"
    )
    raise SystemExit(2)
