"""Every benchmark module imports: the benchmarks run outside the suite, so a name moved between
modules (ops.TicketView, once) broke `python -m bench ticket_cost` unnoticed for a stop."""

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "__main__")


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_module_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.__name__ == f"bench.{name}"


def test_every_benchmark_is_found() -> None:
    assert {"ticket_cost", "swarm_window", "llm_rate_limit", "fairness"} <= set(MODULES)
