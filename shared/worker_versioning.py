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
from typing import Final

from temporalio.api.workflowservice.v1 import DescribeWorkerDeploymentRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import WorkerDeploymentConfig

from shared.config_errors import ConfigError

DEPLOYMENT_ENV: Final = "TICKETS_WORKER_DEPLOYMENT"
BUILD_ID_ENV: Final = "TICKETS_WORKER_BUILD_ID"
# The server's default limit on a build id (limit.workerBuildIdSize); the name is held to the
# same. A longer one is not refused when the worker starts: its polls fail, and nothing says so.
MAX_CHARS: Final = 255
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

    def make_current(self) -> str:
        return (
            f"`temporal worker deployment set-current-version --deployment-name "
            f"{self.deployment} --build-id {self.build_id}`"
        )


def _problem(value: str, *, dots: bool) -> str | None:
    if len(value) > MAX_CHARS:
        return f"is {len(value)} characters long; the server takes at most {MAX_CHARS}"
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in value):
        return "holds a space or a control character"
    if not dots and "." in value:
        return "holds a '.', which the server refuses in a deployment's name"
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
    for name, value, dots in ((DEPLOYMENT_ENV, deployment, False), (BUILD_ID_ENV, build_id, True)):
        if problem := _problem(value, dots=dots):
            raise ConfigError(f"{name}={value[:60]!r} {problem}")
    return Versioning(deployment, build_id)


async def routing_line(client: Client, versioning: Versioning) -> tuple[str, bool]:
    """Whether the server sends this version tasks: (the line to print, True when it does). A
    version that is neither current nor ramping polls and gets no task: said at start-up, with
    the command that makes it current."""
    try:
        described = await client.workflow_service.describe_worker_deployment(
            DescribeWorkerDeploymentRequest(
                namespace=client.namespace, deployment_name=versioning.deployment
            )
        )
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            return f"could not read deployment {versioning.deployment}'s versions: {err}", True
        current, ramping, percentage = None, None, 0.0
    else:
        routing = described.worker_deployment_info.routing_config
        current = _build_of(routing.current_deployment_version)
        ramping = _build_of(routing.ramping_deployment_version)
        percentage = routing.ramping_version_percentage
    if versioning.build_id == current:
        return "this build is the deployment's current version: it takes new tasks", True
    if versioning.build_id == ramping:
        return (
            f"this build is ramping: it takes {percentage:g}% of the workflows (chosen by id), "
            f"the current version ({current or 'the unversioned workers'}) the rest",
            True,
        )
    now = (
        f"the current version is {current}" if current else "the deployment has no current version"
    )
    return (
        f"this build is not current or ramping ({now}), so it takes no task until it is: "
        f"{versioning.make_current()}",
        False,
    )


def _build_of(version: object) -> str | None:
    build_id = getattr(version, "build_id", "")
    return build_id or None
