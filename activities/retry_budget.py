"""How many attempts an agent call gets for failures other than a rate limit.

The agent activities' retry policy allows any number of attempts, bounded in time by the call's
schedule-to-close timeout (workflows/options.py): a 429 must never fail a ticket while its SLA
still allows waiting. Other retryable failures (5xx, timeouts, dropped connections) mean the
provider is unwell rather than busy, and the fallback route should take over soon, as it did
when the policy allowed five attempts: from the fifth attempt on such a failure is raised as
non-retryable. The attempt number counts every attempt of the call, rate-limited ones included
(Temporal keeps no count per failure type), so a call that first waited out several 429s falls
back on its next failure of another kind.
"""

from typing import Final

from temporalio.exceptions import ApplicationError

from activities.providers.errors import RATE_LIMITED_TYPE

OTHER_FAILURE_ATTEMPTS: Final = 5


def spend_attempt(err: Exception, attempt: int) -> Exception:
    """What the activity raises for ``err`` on attempt ``attempt`` (1-based)."""
    if attempt < OTHER_FAILURE_ATTEMPTS:
        return err
    if isinstance(err, ApplicationError):
        if err.non_retryable or err.type == RATE_LIMITED_TYPE:
            return err
        return ApplicationError(
            f"{err.message} (attempt {attempt}: giving up on this route)",
            *err.details,
            type=err.type,
            non_retryable=True,
        )
    return ApplicationError(
        f"{type(err).__name__} (attempt {attempt}: giving up on this route)",
        type=type(err).__name__,
        non_retryable=True,
    )
