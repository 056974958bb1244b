"""PayloadGc: one scheduled run of the payload collection (starter/gc_schedule.py creates the
schedule; shared/payload_gc.py is what it does, in one activity on a worker of the tickets
queue, which holds the payload store).

Why a workflow: a Temporal schedule starts workflows; each run's history (its activity's result
is the report of ``gc-payloads --json``) stays readable like any workflow's, and the schedule
never starts one while the last is still running. The run's own result is None: the schedule
hands each run the last one's result, and a report (encrypted, as every payload but None) needed
the key of its day, so a run after that key was retired failed its first workflow task, and
every run after it (docs/privacy.md, rotation). A run that could not check some owners (their
payloads were kept) fails with the count and the first problem, so it shows as failed, as the
command exits non-zero; what it could collect is collected either way.
"""

from datetime import timedelta
from typing import Final

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from shared import names
    from shared.payload_gc import GcReport, GcRequest

# Reading every owner's histories takes seconds for thousands of workflows, minutes for
# millions: the attempt may take hours, and a worker that dies is noticed by its heartbeat.
ATTEMPT_TIMEOUT: Final = timedelta(hours=6)
HEARTBEAT_TIMEOUT: Final = timedelta(minutes=2)
# A server or database unavailable for a while: tried again for about half an hour (six attempts
# that failed on their own: activities/payload_gc.py counts them, leaving out the attempts a
# rolling restart cut), then the next scheduled run tries. Any number of attempts here, so a
# rollout never uses them up; the run's execution timeout (starter/gc_schedule.py) bounds them.
# Not a change of the command sequence: histories recorded with the old policy replay unchanged.
RETRY: Final = RetryPolicy(
    initial_interval=timedelta(minutes=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
    maximum_attempts=0,
)


@workflow.defn(name=names.PAYLOAD_GC_WORKFLOW)
class PayloadGcWorkflow:
    @workflow.run
    async def run(self, request: GcRequest) -> None:
        report = await workflow.execute_activity(
            names.COLLECT_PAYLOADS,
            request,
            result_type=GcReport,
            start_to_close_timeout=ATTEMPT_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
        if report.owners_not_checked:
            first = report.problems[0] if report.problems else "-"
            raise ApplicationError(
                f"deleted {report.payloads_deleted} payload(s), but {report.owners_not_checked} "
                f"owner(s) could not be checked and their payloads were kept; the first: {first}",
                type="OwnersNotChecked",
                non_retryable=True,
            )
