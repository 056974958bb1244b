"""TICKETS_WORKER_DEPLOYMENT and TICKETS_WORKER_BUILD_ID: both or neither, and values the server
takes, refused at start-up with the variable named (shared/worker_versioning.py)."""

import pytest
from temporalio.common import VersioningBehavior

from shared.config_errors import ConfigError
from shared.worker_versioning import BUILD_ID_ENV, DEPLOYMENT_ENV, versioning_from_env


def test_neither_or_both_empty_is_unversioned() -> None:
    assert versioning_from_env({}) is None
    # Compose passes an unset variable as "".
    assert versioning_from_env({DEPLOYMENT_ENV: "", BUILD_ID_ENV: " "}) is None


def test_both_make_every_workflow_auto_upgrade_on_this_build() -> None:
    versioning = versioning_from_env({DEPLOYMENT_ENV: " ticket-agents ", BUILD_ID_ENV: "3f9c2e1"})
    assert versioning is not None
    config = versioning.worker_config()
    assert config.use_worker_versioning
    assert config.version.deployment_name == "ticket-agents"
    assert config.version.build_id == "3f9c2e1"
    assert config.default_versioning_behavior is VersioningBehavior.AUTO_UPGRADE
    assert versioning.make_current("support") == (
        "`temporal worker deployment set-current-version --namespace support --deployment-name "
        "ticket-agents --build-id 3f9c2e1`"
    )


@pytest.mark.parametrize(
    ("env", "named", "why"),
    [
        ({BUILD_ID_ENV: "3f9c2e1"}, BUILD_ID_ENV, f"but {DEPLOYMENT_ENV} is not"),
        ({DEPLOYMENT_ENV: "ticket-agents"}, DEPLOYMENT_ENV, f"but {BUILD_ID_ENV} is not"),
        ({DEPLOYMENT_ENV: "ticket.agents", BUILD_ID_ENV: "1"}, DEPLOYMENT_ENV, "holds '.'"),
        ({DEPLOYMENT_ENV: "tickets:prod", BUILD_ID_ENV: "1"}, DEPLOYMENT_ENV, "holds ':'"),
        ({DEPLOYMENT_ENV: "ticket agents", BUILD_ID_ENV: "1"}, DEPLOYMENT_ENV, "a space"),
        ({DEPLOYMENT_ENV: "t", BUILD_ID_ENV: "v1\x00"}, BUILD_ID_ENV, "a control character"),
        ({DEPLOYMENT_ENV: "t", BUILD_ID_ENV: "x" * 256}, BUILD_ID_ENV, "256 bytes long"),
        # The server counts bytes: 128 characters of two bytes each are too many.
        ({DEPLOYMENT_ENV: "é" * 128, BUILD_ID_ENV: "1"}, DEPLOYMENT_ENV, "256 bytes long"),
        ({DEPLOYMENT_ENV: "t", BUILD_ID_ENV: "__unversioned__"}, BUILD_ID_ENV, "starts with '__'"),
    ],
)
def test_a_value_the_server_would_not_take_is_refused_by_name(
    env: dict[str, str], named: str, why: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        versioning_from_env(env)
    assert str(refused.value).startswith(named)
    assert why in str(refused.value)


def test_a_build_id_may_hold_dots_and_slashes() -> None:
    versioning = versioning_from_env({DEPLOYMENT_ENV: "t", BUILD_ID_ENV: "v1.2.3/linux:amd64"})
    assert versioning is not None and versioning.build_id == "v1.2.3/linux:amd64"
