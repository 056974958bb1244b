"""A fan-out workflow's input read by the workflow, not by the data converter.

The SDK decodes a workflow's arguments before its code runs, and an argument its type hint
refuses (a batch's ``window`` of 0, a swarm's items as an object, an orchestrator task of no
characters: what a program other than the CLI can send) fails the workflow *task*, which the
server retries for ever: the run stays open with nothing done and no reason a person is shown.
Taken as ``Any`` and read here, such an input fails the *run* at once, non-retryable, naming
each field and its problem (never its value: shared/validation.py). A valid input reads as the
converter read it, so no recorded history replays differently.
"""

import inspect
from collections.abc import Callable
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from shared.validation import problems

# The failure's type (docs/fanout.md).
INVALID_INPUT: Final = "InvalidWorkflowInput"

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])

# The default of an argument taken as a RawValue: one left out is said, not a TypeError in the
# SDK (the same first task failing for ever).
MISSING: Final = RawValue(Payload())


def read_model(model: type[M], raw: Any, name: str) -> tuple[M | None, str | None]:
    """``raw`` as ``model``, or None and what is wrong with it (each field named under
    ``name``)."""
    try:
        return model.model_validate(raw), None
    except ValidationError as err:
        return _refused(err, name)


def read_payload(model: type[M], raw: RawValue, name: str) -> tuple[M | None, str | None]:
    """``raw`` (the argument's payload as sent) decoded as ``model`` by the workflow's payload
    converter, as the SDK decoded a typed argument: one pass, in the converter's JSON mode, so
    no history reads differently (``model_validate`` after an untyped decode was a second pass
    over a swarm state of up to 38 MB, a quarter of a second more inside the SDK's 2 s limit on
    a workflow activation). Or None and what is wrong with it."""
    if raw is MISSING:
        return None, f"{name}: missing"
    try:
        [value] = workflow.payload_converter().from_payloads([raw.payload], [model])
    except ValidationError as err:
        return _refused(err, name)
    except Exception:  # not JSON (an unknown encoding, bytes): nothing of it is quoted
        return None, f"{name}: not a JSON object"
    if not isinstance(value, model):
        return None, f"{name}: should be an object, not null"
    return value, None


def _refused(err: ValidationError, name: str) -> tuple[None, str]:
    said = problems(err)
    # Not an object at all (one problem, at the root): named as the argument, not "input".
    if err.error_count() == 1 and not err.errors()[0]["loc"]:
        said = said.removeprefix("input: ")
    return None, f"{name}: {said}"


def read_list(raw: Any, name: str) -> tuple[list[Any], str | None]:
    """``raw`` when it is a list (its elements are each read later, one by one), else an empty
    list and what is wrong."""
    if isinstance(raw, list):
        return raw, None
    return [], f"{name}: should be a list, not {_kind(raw)}"


def extra_arguments(fn: F) -> F:
    """``fn`` (a workflow's ``@workflow.init`` or ``@workflow.run``, or a signal handler,
    ending in ``*extra``) as the SDK should see it: without ``*extra``.

    The SDK calls ``__init__`` with every argument a start sent, before any code of ours runs;
    one more than it takes was a TypeError there, the run's first workflow task failing for ever
    (nothing done, no reason shown). Taking ``*extra`` lets the workflow refuse the run instead
    (``extra_problem``). But a signature with ``*extra`` has the SDK decode every argument with
    no type hint, and a ``RawValue`` argument (a batch's or a swarm's state, read in one pass:
    ``read_payload``) must keep its hint; so the SDK is shown the signature without it
    (``inspect.signature`` reads ``__signature__``), and the arguments of a valid start decode
    exactly as before. A start with more arguments than that signature has is decoded with no
    hints at all (the SDK's rule when the counts differ): the workflow then refuses it before
    reading any argument as a RawValue."""
    signature = inspect.signature(fn)
    kept = [p for p in signature.parameters.values() if p.kind is not p.VAR_POSITIONAL]
    fn.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    return fn


class _Absent:
    """A signal's argument left out: its handler's default."""

    def __repr__(self) -> str:
        return "(no argument)"


# The default of a signal handler's one argument (``signal_problem``).
ABSENT: Final = _Absent()


def signal_problem(first: Any, extra: tuple[Any, ...]) -> str | None:
    """What is wrong with the arguments of a signal whose handler takes one (None: nothing),
    never their values. The SDK calls a signal's handler with every argument sent: none (the
    Web UI's signal dialog left empty, `temporal workflow signal` without `--input`) or two was
    a TypeError there, which fails the workflow *task*, not the run, for ever: the signal stays
    in the history and every retry meets it again (a ticket waiting for review stayed there,
    every later review lost; a review, 2026-12-08). Such a handler takes ``first=ABSENT,
    *extra`` under ``extra_arguments`` (its one argument keeps its type hint) and ignores such
    a signal, saying why."""
    if first is ABSENT:
        return "it carried no argument (it takes one JSON object)"
    if extra:
        return f"it carried {1 + len(extra)} arguments (it takes one JSON object)"
    return None


def extra_problem(extra: tuple[Any, ...], takes: str) -> str | None:
    """What is wrong with arguments beyond the ones a workflow takes (``takes``: what they are,
    said to the sender), never their values."""
    if not extra:
        return None
    more = "1 more was" if len(extra) == 1 else f"{len(extra)} more were"
    return f"arguments: the workflow takes {takes}; {more} given"


def refusal(what: str, found: list[str | None]) -> ApplicationError | None:
    """The run's failure for the problems ``found`` (None when there are none)."""
    named = [problem for problem in found if problem is not None]
    if not named:
        return None
    return ApplicationError(
        f"the {what} input is not valid: {'; '.join(named)}",
        type=INVALID_INPUT,
        non_retryable=True,
    )


def _kind(value: Any) -> str:
    """A JSON value's kind, never the value."""
    kinds = {dict: "an object", str: "a string", bool: "a boolean", int: "a number"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number" if isinstance(value, float) else "another value")
