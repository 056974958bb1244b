"""How long a stopping worker lets its in-flight activities finish.

When a worker is asked to stop (SIGTERM from a deploy, ``docker compose stop``, Ctrl-C), it stops
polling at once and gives the activities it is running this long to finish before the SDK cancels
them. An agent call already made is paid for: cutting it wastes the tokens and makes another
worker start the call again. So the default is the longest an agent attempt may run (the agents'
start-to-close timeout, ``[agent_timeouts]``; Temporal itself gives up on the attempt then, so
waiting longer is pointless), or the delivery attempt's limit if that is longer, plus a margin to
report the result. The SDK returns as soon as nothing is in flight: an idle worker stops at once.

TICKETS_SHUTDOWN_GRACE_SECONDS sets it explicitly (tests use a few seconds). Whatever supervises
the worker must wait at least this long before it kills the process (docker compose:
``stop_grace_period``; Kubernetes: ``terminationGracePeriodSeconds``).
"""

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Final

from shared.pipeline_config import PipelineConfig
from shared.settings import ConfigError
from workflows.options import DELIVERY_START_TO_CLOSE

SHUTDOWN_GRACE_ENV: Final = "TICKETS_SHUTDOWN_GRACE_SECONDS"
# Past the longest attempt: time to send its result to the server and close the clients.
SHUTDOWN_MARGIN: Final = timedelta(seconds=5)
# An hour is longer than any attempt this product schedules; more is a typo.
MAX_SHUTDOWN_GRACE: Final = timedelta(hours=1)


def longest_attempt(config: PipelineConfig) -> timedelta:
    """The longest an activity this worker runs may still usefully be working when it is asked
    to stop: an agent attempt (its start-to-close timeout; every provider's request timeout stays
    below it, and Temporal times the attempt out there) or a delivery attempt."""
    agent = timedelta(seconds=config.agent_timeouts.start_to_close_seconds)
    return max(agent, DELIVERY_START_TO_CLOSE)


def shutdown_grace(config: PipelineConfig, env: Mapping[str, str] | None = None) -> timedelta:
    """TICKETS_SHUTDOWN_GRACE_SECONDS when set, else the longest attempt plus a margin."""
    env = os.environ if env is None else env
    raw = (env.get(SHUTDOWN_GRACE_ENV) or "").strip()
    if not raw:
        return longest_attempt(config) + SHUTDOWN_MARGIN
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(
            f"{SHUTDOWN_GRACE_ENV} must be a number of seconds, got {raw!r}"
        ) from None
    limit = MAX_SHUTDOWN_GRACE.total_seconds()
    if not 0 <= seconds <= limit:
        raise ConfigError(f"{SHUTDOWN_GRACE_ENV} must be between 0 and {limit:g}, got {raw}")
    return timedelta(seconds=seconds)
