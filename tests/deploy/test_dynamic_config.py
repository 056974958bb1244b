"""The cluster's Temporal dynamic configuration (deploy/temporal/dynamicconfig.yaml): fairness
comes with the backlog migration Temporal's guide for self-hosted servers asks for, so tasks
queued before fairness was turned on (a cluster upgraded from a file without it) are drained,
not left in the other kind of backlog."""

from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "temporal" / "dynamicconfig.yaml"


def values(config: dict[str, Any], key: str) -> list[Any]:
    return [entry["value"] for entry in config.get(key) or []]


def test_fairness_comes_with_the_backlog_migration() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert values(config, "matching.enableFairness") == [True]
    assert values(config, "matching.enableMigration") == [True]


def test_the_id_limit_fits_the_longest_id_the_product_makes() -> None:
    from shared.orchestration import WorkerType
    from starter.arguments import workflow_id_argument

    config = yaml.safe_load(CONFIG.read_text())
    [limit] = values(config, "limit.maxIDLength")
    given = workflow_id_argument("b" * 200)  # the longest --id a swarm, batch or plan takes
    chunk = f"{given}/chunk-{10_000}"  # workflows/swarm.py
    worker = max((w.value for w in WorkerType), key=len)
    sub_task = f"{given}/{999}-{worker}"  # workflows/orchestrator.py
    assert max(len(chunk), len(sub_task)) <= limit
