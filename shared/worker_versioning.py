"""Worker Versioning, when the deployment asks for it: every Temporal Worker of the process is
one version (a deployment name and a build id) of a Worker Deployment, and the server sends
tasks to the version an operator made current or ramping (docs/deploy.md, "Worker versioning").

    TICKETS_WORKER_DEPLOYMENT=ticket-agents   # the deployment's name, the same for every build
    TICKETS_WORKER_BUILD_ID=3f9c2e1           # this build's id (an image's git commit)

Both or neither: with neither the workers are unversioned, as before. Every workflow is
auto-upgrade: its next task goes to the current version, so a ticket that waits a week for a
person moves to the new build once it is current, and the old build's workers can go as soon
as nothing runs on them (the patching rules and the replay gate still guard the move). Pinned
workflows would keep each old build's workers running for as long as their longest ticket
waits (the final review deadline, a week by default): docs/deploy.md says why not.
"""

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Final

from temporalio.api.deployment.v1 import WorkerDeploymentVersion as DeploymentVersion
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError
from temporalio.worker import WorkerDeploymentConfig

from shared.config_errors import ConfigError
from shared.queue_pollers import describe_queue, routes_to

DEPLOYMENT_ENV: Final = "TICKETS_WORKER_DEPLOYMENT"
BUILD_ID_ENV: Final = "TICKETS_WORKER_BUILD_ID"
# The server's default limit on a build id (limit.workerBuildIdSize), in bytes; the name is held
# to the same. A longer one is not refused when the worker starts: its polls fail, and nothing
# says so.
MAX_BYTES: Final = 255
# How long the worker waits for the server to say where it routes tasks (at start-up, and in
# the gauges' loop).
ROUTING_TIMEOUT: Final = timedelta(seconds=5)
# The server's own: a build id of its unversioned workers.
RESERVED_PREFIX: Final = "__"


@dataclass(frozen=True)
class Versioning:
    """This process's version of the deployment."""

    deployment: str
    build_id: str

    def worker_config(self) -> WorkerDeploymentConfig:
        return WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(self.deployment, self.build_id),
            use_worker_versioning=True,
            default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
        )

    def describe(self) -> str:
        return (
            f"versioned: deployment {self.deployment}, build {self.build_id} (every workflow "
            "auto-upgrades to the current version)"
        )

    def same_as(self, version: DeploymentVersion) -> bool:
        return (version.deployment_name, version.build_id) == (self.deployment, self.build_id)

    def make_current(self, namespace: str = "default") -> str:
        return (
            f"`temporal worker deployment set-current-version --namespace {namespace} "
            f"--deployment-name {self.deployment} --build-id {self.build_id}`"
        )


def _problem(value: str, *, deployment_name: bool) -> str | None:
    if (size := len(value.encode())) > MAX_BYTES:
        return f"is {size} bytes long; the server takes at most {MAX_BYTES}"
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in value):
        # The server would take it; the commands that make a build current would need it quoted.
        return "holds a space or a control character"
    if deployment_name and (found := [c for c in ".:" if c in value]):
        return f"holds {found[0]!r}, which the server refuses in a deployment's name"
    if value.startswith(RESERVED_PREFIX):
        return f"starts with {RESERVED_PREFIX!r}, which the server keeps for its own versions"
    return None


def versioning_from_env(env: Mapping[str, str] | None = None) -> Versioning | None:
    """The process's version, or None (unversioned); ConfigError naming the variable when only
    one of the two is set or either is a value the server would not take."""
    env = os.environ if env is None else env
    # Empty is unset: Compose passes `${TICKETS_WORKER_DEPLOYMENT:-}` as "".
    deployment = env.get(DEPLOYMENT_ENV, "").strip()
    build_id = env.get(BUILD_ID_ENV, "").strip()
    if not deployment and not build_id:
        return None
    if not deployment or not build_id:
        given, missing = (
            (BUILD_ID_ENV, DEPLOYMENT_ENV) if not deployment else (DEPLOYMENT_ENV, BUILD_ID_ENV)
        )
        raise ConfigError(
            f"{given} is set but {missing} is not: Worker Versioning needs both (the "
            "deployment's name and this build's id), or neither for unversioned workers"
        )
    for name, value, is_name in (
        (DEPLOYMENT_ENV, deployment, True),
        (BUILD_ID_ENV, build_id, False),
    ):
        if problem := _problem(value, deployment_name=is_name):
            raise ConfigError(f"{name}={value[:60]!r} {problem}")
    return Versioning(deployment, build_id)


def without_versioning(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a worker on a server of its own (`make run`, the benchmarks, the tests), where
    nobody makes a build current: a version there would take no task."""
    return {k: v for k, v in env.items() if k not in (DEPLOYMENT_ENV, BUILD_ID_ENV)}


@dataclass(frozen=True)
class RoutingProbe:
    """What to ask the server about one worker process: its first queue, of which task kind,
    and its version (None: unversioned)."""

    queue: str
    activities: bool
    versioning: "Versioning | None"

    async def ask(self, client: Client) -> tuple["Routed", str | None]:
        return await routing_line(client, self.queue, self.activities, self.versioning)


class Routed(Enum):
    """What the server does with this worker's polls."""

    TAKES = "takes"
    IDLE = "idle"
    UNKNOWN = "unknown"


async def routing_line(
    client: Client, queue: str, activities: bool, versioning: Versioning | None
) -> tuple[Routed, str | None]:
    """Whether the server sends this worker tasks on ``queue`` (its first), and what to say of
    it: asked at start-up and by the gauges every 15 s. TAKES with None for an unversioned
    worker the server sends tasks (the usual case); IDLE, with the command that changes it, for
    a build that is neither current nor ramping at more than 0% or an unversioned worker while a
    build is current (it polls and gets nothing, and tickets wait); UNKNOWN, with why, when the
    server did not answer."""
    try:
        described = await describe_queue(client, queue, activities, ROUTING_TIMEOUT)
    except RPCError as err:
        what = f"{versioning.deployment} build {versioning.build_id}" if versioning else "it"
        return (
            Routed.UNKNOWN,
            f"could not tell whether the server sends {what} tasks: {err.message}",
        )
    routing = described.versioning_info
    current = routing.current_deployment_version
    namespace = client.namespace
    if versioning is None:
        if routes_to("", "", routing):
            return Routed.TAKES, None
        return Routed.IDLE, (
            f"this worker is unversioned, but build {current.build_id} of deployment "
            f"{current.deployment_name} is current on {queue}, so it takes no task: give it "
            f"{DEPLOYMENT_ENV} and {BUILD_ID_ENV}, or send tasks to unversioned workers again: "
            f"`temporal worker deployment set-current-version --namespace {namespace} "
            f"--deployment-name {current.deployment_name} --unversioned`"
        )
    if not routes_to(versioning.deployment, versioning.build_id, routing):
        now = (
            f"build {current.build_id} is current"
            if current.build_id
            else "no build is current: the unversioned workers take the tasks"
        )
        return Routed.IDLE, (
            f"this build is not current or ramping ({now}), so it takes no task until it is: "
            f"{versioning.make_current(namespace)}"
        )
    if versioning.same_as(current):
        return Routed.TAKES, "this build is current: it takes new tasks"
    return Routed.TAKES, (
        f"this build is ramping: it takes {routing.ramping_version_percentage:g}% of the "
        f"workflows (chosen by id), {_build(current.build_id)} the rest"
    )


def _build(build_id: str) -> str:
    return f"build {build_id}" if build_id else "the unversioned workers"
