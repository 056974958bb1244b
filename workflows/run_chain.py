"""Whether a fan-out workflow's run was continued as new by the workflow itself, or started.

A swarm's or batch's state tells its later runs what the first run decided (a swarm's routes and
timeouts, a batch's position), so the first run's checks are skipped where the state says a
later run. Anyone who may start the workflow can send such a state. ``continued_run_id`` alone
does not say "continued as new by itself": Temporal sets it on a workflow retry's run and a cron
schedule's next run too, and those get the input the client gave. So the workflow writes its own
run id into the state as it continues as new (``continued_from``), and a later run is one whose
state names the run it was continued from; no client can know that id before the run exists.
A state without the field was continued by a version before it (or started): taken as a later
run only when continued, on a first attempt, without a cron schedule (patches
started-run-is-first, batch-started-run-is-first)."""

from temporalio import workflow
from temporalio.common import RawValue


def later_run(
    continued_from: str | None,
    continued_run_id: str | None,
    attempt: int,
    cron_schedule: str | None,
) -> bool:
    """True for a run the workflow itself continued as new (see the module's docstring)."""
    if continued_run_id is None:
        return False
    if continued_from is not None:
        return continued_from == continued_run_id
    return attempt == 1 and not cron_schedule


def this_run_is_later(continued_from: str | None) -> bool:
    """``later_run`` for the current run."""
    info = workflow.info()
    return later_run(continued_from, info.continued_run_id, info.attempt, info.cron_schedule)


def memo_again() -> dict[str, RawValue] | None:
    """This run's memo, to give ``continue_as_new`` again: the server would copy its bytes,
    encrypted with the key of the first run's day, into every later run, and a batch running
    since before a key rotation stopped at its next run once that key was retired
    (docs/privacy.md). Passed as the payloads it decoded to, never converted: a value set
    outside the project (another SDK's encoding) must not fail the workflow task."""
    return {key: RawValue(payload) for key, payload in workflow.info().raw_memo.items()} or None
