"""What the compose file's services can take over time: PostgreSQL's connections for every pool
the cluster opens, traces kept within bounds, a history shard count said before it is fixed,
the Web UI's origins under both loopback names, and a build context without what git ignores."""

import re
from typing import Any

from tests.deploy.compose_file import container_env
from tests.support.processes import PROJECT_ROOT

# Temporal's services, each with its own pools (frontend, history, matching, worker).
TEMPORAL_SERVICES = 4
# README's example of a scaled cluster, and the product's other processes (API, codec server).
SCALED_WORKERS, OTHER_PROCESSES = 5, 2
# PostgreSQL keeps these for superusers (superuser_reserved_connections' default).
RESERVED = 3


def _setting(command: list[str], name: str, default: int) -> int:
    for part in command:
        if (found := re.fullmatch(rf"{name}=(\d+)", part)) is not None:
            return int(found.group(1))
    return default


def test_postgresql_takes_every_pool_the_cluster_opens(services: dict[str, dict[str, Any]]) -> None:
    # The image's 100 connections against Temporal's 4 x (20 + 10) and seven product processes
    # of up to 10 each: a burst answered "too many clients already" to ledger writes.
    limit = _setting(services["postgresql"]["command"], "max_connections", 100)
    temporal = container_env(services["temporal"])
    main, visibility = int(temporal["SQL_MAX_CONNS"]), int(temporal["SQL_VIS_MAX_CONNS"])
    pool = int(container_env(services["worker"]).get("TICKETS_DATABASE_POOL_SIZE") or 10)
    wanted = TEMPORAL_SERVICES * (main + visibility) + pool * (SCALED_WORKERS + OTHER_PROCESSES)
    assert wanted + RESERVED <= limit, (wanted, limit)


def test_jaeger_keeps_a_bounded_number_of_traces(services: dict[str, dict[str, Any]]) -> None:
    # In memory with no bound, it kept every ticket's trace until the host ran out of memory.
    kept = container_env(services["jaeger"]).get("MEMORY_MAX_TRACES")
    assert kept is not None and 0 < int(kept) <= 100_000


def test_the_history_shard_count_is_said_before_it_is_fixed(
    services: dict[str, dict[str, Any]],
) -> None:
    shards = container_env(services["temporal"]).get("NUM_HISTORY_SHARDS")
    assert shards is not None and int(shards) >= 1
    assert "TEMPORAL_HISTORY_SHARDS" in (PROJECT_ROOT / "docs" / "deploy.md").read_text()


def test_the_codec_server_takes_the_web_ui_under_both_loopback_names(
    services: dict[str, dict[str, Any]],
) -> None:
    # Published on 127.0.0.1: a browser at http://127.0.0.1:8080 was refused every decode.
    allowed = container_env(services["codec-server"])["TICKETS_CODEC_ALLOWED_ORIGINS"].split(",")
    assert {"http://localhost:8080", "http://127.0.0.1:8080"} <= set(allowed)


def test_the_build_context_leaves_out_everything_git_ignores() -> None:
    # The context is copied whole into a layer of the image: a tokens file or a swarm's
    # per-item results left in the checkout shipped with it. The .dockerignore is an allowlist
    # (tests/deploy/test_compose.py); inside what it allows, git's ignored names are left out.
    def entries(name: str) -> list[str]:
        lines = (PROJECT_ROOT / name).read_text().splitlines()
        return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.startswith("#")]

    ignored, rules = entries(".gitignore"), entries(".dockerignore")
    allowed = {r[1:] for r in rules if r.startswith("!")}
    left_out = {r for r in rules if not r.startswith("!")}
    assert rules[0] == "*"

    def covered(entry: str) -> bool:
        if "/" in entry:  # anchored at the top (bench/results): left out unless its top is allowed
            return entry.split("/")[0] not in allowed
        # A bare name matches at any depth in git: left out at any depth here too.
        return f"**/{entry}" in left_out

    assert not {e for e in ignored if not covered(e)}
    for secret in ("tokens.toml", "insights.jsonl", ".env", "secrets", "*.sqlite3", "*.sqlite"):
        assert f"**/{secret}" in left_out, secret


def test_temporal_does_not_connect_as_the_database_superuser(
    services: dict[str, dict[str, Any]],
) -> None:
    # As the superuser, Temporal's role could read the product's delivery ledger in plain text.
    superuser = container_env(services["postgresql"])["POSTGRES_USER"]
    assert container_env(services["temporal"])["POSTGRES_USER"] != superuser
    assert container_env(services["temporal-schema"])["POSTGRES_USER"] != superuser
