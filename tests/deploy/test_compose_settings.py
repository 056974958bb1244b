"""Every setting reaches the container that reads it: each setting the docs' tables document and
each one the code reads is passed to the services that read it by docker-compose.yml (or named
in docs/deploy.md as left out, with the reason), and an empty value means what an unset one does.
"""

import logging
import os
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from opentelemetry.sdk.trace import sampling

from activities.delivery.config import DeliveryConfig
from api.settings import ApiSettings
from codec_server.settings import CodecServerSettings
from shared.agents import AgentRole, Priority
from shared.settings import load_settings, workflow_sandbox
from shared.shutdown import shutdown_grace
from shared.stores.config import StoreConfig
from shared.telemetry import span_exporter_from_env, trace_content, tracing_disabled
from shared.temporal_client import connection_settings
from shared.tickets import Channel
from shared.worker_gauges import replicas_from_env, spend_limit_from_env
from shared.worker_versioning import versioning_from_env
from tests.deploy.compose_file import (
    OWN,
    container_env,
    product_literals,
)
from tests.support.processes import PROJECT_ROOT

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
DEPLOY_DOC = PROJECT_ROOT / "docs" / "deploy.md"
# A setting's name as the docs and the code spell it; a family ends in `_<NAME>` or `_*`.
SETTING = re.compile(
    r"(?<![A-Za-z0-9_])((?:TICKETS|OPENAI|ANTHROPIC|OTEL|TEMPORAL)_[A-Z0-9_]*(?:<[A-Z]+>|\*)?)"
)
# Families the code reads with an f-string over an enum (f"TICKETS_AGENT_{role.name}"): compose
# cannot pass a prefix, so the file lists every member.
ENUM_FAMILIES: dict[str, Any] = {
    "TICKETS_AGENT_": AgentRole,
    "TICKETS_SLA_HOURS_": Priority,
    "TICKETS_DELIVERY_CHANNEL_": Channel,
}
# The shared database, the key ring and the payload settings: the worker, the API and the codec
# server all read and write payloads through the data converter, so they must agree.
STORE_SETTINGS = {
    "TICKETS_DATABASE_URL",
    "TICKETS_ENCRYPTION_KEYS",
    "TICKETS_DATABASE_POOL_SIZE",
    "TICKETS_PAYLOAD_OFFLOAD_BYTES",
}
# Left out of every container on purpose; docs/deploy.md ("What the containers are given") names
# each with the reason.
NOT_PASSED = {
    "TICKETS_DATA_DIR": "the image sets it; an empty value would replace it with ./data",
    "TICKETS_CONFIG": "the image's config/pipeline.toml; another file needs a volume",
    "TICKETS_ENCRYPTION_KEY_FILE": "the ring is given as TICKETS_ENCRYPTION_KEYS",
    "TICKETS_CODEC_HOST": "the codec server's command line (--host)",
    "TICKETS_CODEC_PORT": "the codec server's command line (--port)",
    "TEMPORAL_API_KEY": "the file's own Temporal, plain inside the network",
    "TEMPORAL_TLS": "the same",
    "TEMPORAL_TLS_CLIENT_CERT_PATH": "the same",
    "TEMPORAL_TLS_CLIENT_KEY_PATH": "the same",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH": "the same",
    "TEMPORAL_PROFILE": "the same",
    "TEMPORAL_CONFIG_FILE": "the same",
    "TEMPORAL_CODEC_PASS_ACCESS_TOKEN": "a Web UI setting the codec server has no use for",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "traces go to the file's Jaeger",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "the same",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "the same",
    "OTEL_EXPORTER_OTLP_HEADERS": "the same",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "the same",
    "OTEL_EXPORTER_OTLP_TIMEOUT": "the same",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "the same",
    "OTEL_BSP_*": "the same",
    "OTEL_PROPAGATORS": "read as tracecontext whatever it says",
    # The span limits the SDK reads (shared/otel_env.py checks them): its defaults.
    "OTEL_SPAN_*": "the SDK's defaults",
    "OTEL_ATTRIBUTE_*": "the same",
    "OTEL_EVENT_*": "the same",
    "OTEL_LINK_*": "the same",
    # The namespace job's (compose gives it there); the embedded server's otherwise.
    "TEMPORAL_NAMESPACE_RETENTION": "the temporal-namespace job sets the retention",
}


def left_out(name: str) -> bool:
    """Named in NOT_PASSED, or a member of a family there (``OTEL_BSP_*``)."""
    return name in NOT_PASSED or any(
        key.endswith("*") and name.startswith(key[:-1]) for key in NOT_PASSED
    )


def readers(name: str) -> set[str]:
    """The services that read a setting."""
    if name in STORE_SETTINGS:
        return OWN
    if name.startswith("TICKETS_API_"):
        return {"api"}
    if name.startswith("TICKETS_CODEC_"):
        return {"codec-server"}
    if name == "TICKETS_DEBUG":  # the error handling of `python -m starter serve`'s start
        return {"api"}
    if name == "TICKETS_TIMEZONE":  # the console's zone, and the CLI's run in the API's container
        return {"api"}
    if name.startswith("TEMPORAL_CODEC_"):
        return {"temporal-ui"}
    return {"worker"}


def settings_the_code_reads() -> set[str]:
    """Every variable name the product's source spells out, and every member of the families it
    reads over an enum."""
    literals, prefixes = product_literals()
    names = {n for n in literals if SETTING.fullmatch(n) and not n.endswith("_")}
    families = {p for p in prefixes if re.fullmatch(r"[A-Z][A-Z0-9_]*_", p)}
    assert families <= set(ENUM_FAMILIES), (
        f"the code reads a new family of settings: {sorted(families - set(ENUM_FAMILIES))}; "
        "list its members in docker-compose.yml and in ENUM_FAMILIES"
    )
    for prefix in families:
        names |= {prefix + member.name for member in ENUM_FAMILIES[prefix]}
    return names


def documented_settings() -> set[str]:
    """Every setting named in a table of the README or docs/*.md."""
    found = set()
    for path in DOCS:
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("|"):
                found.update(SETTING.findall(line))
    return found


def members(name: str, read: set[str]) -> set[str]:
    """A family's members the code reads (TICKETS_SMTP_* is every TICKETS_SMTP_ setting); a
    family the code does not spell out (OTEL_BSP_*, read by the OpenTelemetry SDK) stays as it
    is."""
    if not name.endswith(("*", ">")):
        return {name}
    prefix = name[: name.rindex("_") + 1]
    return {n for n in read if n.startswith(prefix)} or {name}


def unreached(names: set[str], services: dict[str, dict[str, Any]]) -> list[str]:
    missing = []
    for name in sorted(n for n in names if not left_out(n)):
        for service in sorted(readers(name)):
            if name not in (services[service].get("environment") or {}):
                missing.append(f"{name} does not reach {service}")
    return missing


def test_every_setting_in_the_docs_tables_reaches_the_service_that_reads_it(
    services: dict[str, dict[str, Any]],
) -> None:
    """docs/delivery.md's and docs/stores.md's settings (and every other table's) reach the
    worker (or the API, the codec server), or docs/deploy.md says why not: a documented setting
    that compose drops is silently ignored."""
    read = settings_the_code_reads()
    documented: set[str] = set()
    for name in documented_settings():
        documented |= members(name, read)
    assert {
        "TICKETS_SMTP_TLS",
        "TICKETS_DELIVERY_CHANNEL_CHAT",
        "OTEL_BSP_MAX_QUEUE_SIZE",
    } <= documented
    missing = unreached(documented, services)
    assert not missing, "\n".join(missing)


def test_every_setting_the_code_reads_reaches_the_service_that_reads_it(
    services: dict[str, dict[str, Any]],
) -> None:
    read = settings_the_code_reads()
    assert {"TICKETS_SLA_HOURS_LOW", "TICKETS_AGENT_INSIGHTS", "TICKETS_DATABASE_POOL_SIZE"} <= read
    missing = unreached(read, services)
    assert not missing, "\n".join(missing)


def test_what_is_left_out_is_documented_and_really_left_out(
    services: dict[str, dict[str, Any]],
) -> None:
    text = DEPLOY_DOC.read_text()
    section = re.split(r"\n##+ ", text.split("### What the containers are given", 1)[1])[0]
    for name in NOT_PASSED:
        assert f"`{name}`" in section, f"docs/deploy.md does not say why {name} is left out"
        for service in OWN:
            assert name not in (services[service].get("environment") or {}), (name, service)


def test_the_store_settings_are_the_same_in_every_product_service(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in STORE_SETTINGS:
        values = {services[s]["environment"].get(name, "<missing>") for s in OWN}
        assert len(values) == 1 and "<missing>" not in values, (name, values)


def what_it_reads(env: dict[str, str], config: Path) -> list[Any]:
    """Everything the product's processes make of their environment."""
    settings = load_settings(config, env)
    return [
        settings,
        shutdown_grace(settings.pipeline, env),
        DeliveryConfig.from_env(env),
        StoreConfig.from_env(env),
        workflow_sandbox(env),
        spend_limit_from_env(env),
        replicas_from_env(env),
        versioning_from_env(env),
        trace_content(env),
        tracing_disabled(env),
        type(span_exporter_from_env(env)),
        ApiSettings.from_env(env),
        CodecServerSettings.from_env(env),
        connection_settings(env),
    ]


def sdk_sampler_warnings(env: dict[str, str]) -> list[str]:
    """What the OpenTelemetry SDK says of the sampler variables in ``env`` (it reads them
    itself, from the process's environment, when a tracer provider is made)."""
    said: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    keep = Keep()
    logger = logging.getLogger(sampling.__name__)
    logger.addHandler(keep)
    otel = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    cleared = {k: "" for k in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")}
    try:
        with mock.patch.dict(os.environ, cleared):
            for name in cleared:
                del os.environ[name]
            os.environ.update(otel)
            sampling._get_from_env_or_default()
    finally:
        logger.removeHandler(keep)
    return said


def test_an_empty_setting_means_what_an_unset_one_means(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Optional settings are passed as `${NAME:-}`: unset in .env, the container gets an empty
    value. That is only harmless where every reader treats empty as unset. The pipeline file
    here sets what an empty override could clear (TICKETS_SENSITIVE_CATEGORIES= would empty its
    list of categories, which is why the compose file passes that one without a value)."""
    default = (PROJECT_ROOT / "config" / "pipeline.toml").read_text()
    assert "sensitive_categories = []" in default
    config = tmp_path / "pipeline.toml"
    config.write_text(
        default.replace("sensitive_categories = []", 'sensitive_categories = ["Billing"]')
    )
    for name in OWN:
        env = container_env(services[name])
        empty = sorted(k for k, v in env.items() if v == "")
        unset = {k: v for k, v in env.items() if v != ""}
        assert what_it_reads(env, config) == what_it_reads(unset, config), (name, empty)
        assert not sdk_sampler_warnings(env), (name, sdk_sampler_warnings(env))
    sensitive = load_settings(config, {"TICKETS_SENSITIVE_CATEGORIES": ""}).pipeline.review
    assert sensitive.sensitive_categories == [], "an empty value clears the list"
    assert services["worker"]["environment"]["TICKETS_SENSITIVE_CATEGORIES"] is None


@pytest.mark.parametrize(
    ("service", "images_own"),
    [
        ("postgresql", ["docker-entrypoint.sh", "postgres", "-c", "max_connections=300"]),
        ("grafana", ["/run.sh"]),
    ],
)
def test_a_service_with_a_password_refuses_placeholders_before_the_image_starts(
    services: dict[str, dict[str, Any]], service: str, images_own: list[str]
) -> None:
    """The image's own entrypoint runs behind deploy/refuse-placeholder-passwords.sh
    (tests/deploy/test_postgres_scripts.py runs the script): both set their password once, when
    their volume is new."""
    definition = services[service]
    entrypoint = definition["entrypoint"]
    assert entrypoint[0] == "/bin/sh", entrypoint
    assert [*entrypoint[2:], *definition.get("command", [])] == images_own
    wrapper = mounts(definition)[entrypoint[1]]
    assert Path(wrapper) == PROJECT_ROOT / "deploy" / "refuse-placeholder-passwords.sh"


def test_postgresql_creates_the_products_database_on_first_start(
    services: dict[str, dict[str, Any]],
) -> None:
    script = mounts(services["postgresql"])["/docker-entrypoint-initdb.d/10-tickets.sh"]
    assert Path(script) == PROJECT_ROOT / "deploy" / "postgres" / "create-tickets-database.sh"


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """The service's bind mounts: target in the container -> source."""
    return {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
