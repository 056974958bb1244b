"""The Temporal server's own request counters, read from its Prometheus endpoint
(`temporal server start-dev --metrics-port`), for the benchmarks that compare what workflows
cost it (``python -m bench ticket_cost --server-metrics``): persistence writes and reads,
visibility writes and the frontend/matching/history requests, per operation."""

import re
import urllib.request
from collections import Counter
from typing import Final

# The counters compared, by metric name; each is summed over its labels but the operation.
METRICS: Final = ("persistence_requests", "visibility_persistence_requests", "service_requests")
_LINE: Final = re.compile(r"^(\w+)\{(.*)\} ([0-9.e+-]+)$")
_OPERATION: Final = re.compile(r'operation="([^"]*)"')


def scrape(url: str) -> Counter[tuple[str, str]]:
    """(metric, operation) -> count, from one read of the endpoint (blocking: run it in a
    thread)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        found = _LINE.match(line)
        if found is None or found.group(1) not in METRICS:
            continue
        operation = _OPERATION.search(found.group(2))
        counts[(found.group(1), operation.group(1) if operation else "")] += float(found.group(3))
    return counts


def table(
    per_kind: dict[str, Counter[tuple[str, str]]], workflows: int, least: float = 0.05
) -> str:
    """A Markdown table: each counter per workflow, by kind; counters under ``least`` per
    workflow for every kind are left out."""
    kinds = list(per_kind)
    keys = sorted(
        {k for counts in per_kind.values() for k in counts},
        key=lambda k: (METRICS.index(k[0]), -per_kind[kinds[0]][k]),
    )
    lines = [
        "| server counter (per workflow) | " + " | ".join(kinds) + " |",
        "|---|" + "---:|" * len(kinds),
    ]
    for key in keys:
        values = [per_kind[kind][key] / workflows for kind in kinds]
        if max(values) < least:
            continue
        lines.append(f"| {key[0]} {key[1]} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    return "\n".join(lines)
