"""The compose file as the deploy tests read it: interpolated by docker-compose with
.env.example, and the names they share."""

import ast
import re
import shutil
import subprocess
from typing import Any

import yaml

from tests.support.processes import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
# The one-shot jobs: they exit 0 when done, and what needs them waits for that (nothing waits
# for the payload collection's schedule: the workers take its runs whenever they come).
JOBS = {"temporal-schema", "temporal-namespace", "payload-gc-schedule"}
WAITED_FOR_JOBS = JOBS - {"payload-gc-schedule"}
# The product's own long-running processes, built from the Dockerfile here (the payload
# collection's job runs the same image, with Temporal's address only).
OWN = {"worker", "api", "codec-server"}
SECRETS = {
    "POSTGRES_ADMIN_PASSWORD",
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
    assert binary, (
        "docker-compose is not installed (make test installs Debian's docker-compose as root: "
        ".ci/system-packages)"
    )
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
