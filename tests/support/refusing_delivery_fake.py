"""Test-only: a workflow whose one activity fails as an SMTP server refusing a recipient fails,
with the customer's address in the error's message (as activities/delivery/smtp.py words it).
Its own module with few imports: the workflow sandbox re-imports the module a workflow is
defined in."""

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

ADDRESS = "jane.doe@example.com"
NAME = "RefusingDeliveryFake"


@activity.defn(name="refusing_delivery_fake")
async def refuse() -> None:
    raise ApplicationError(
        f"DeliveryRejected: the SMTP server refused the recipient {ADDRESS}: 550 no such user",
        type="DeliveryRejected",
        non_retryable=True,
    )


@workflow.defn(name=NAME)
class RefusingDeliveryFake:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            refuse,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
