"""Every benchmark module imports: the benchmarks run outside the suite, so a name moved between
modules (ops.TicketView, once) broke `python -m bench ticket_cost` unnoticed for a stop."""

import importlib
import pkgutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

import bench
from bench.dataset import PROJECT_ROOT

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "__main__")


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_module_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert module.__name__ == f"bench.{name}"


def test_every_benchmark_is_found() -> None:
    assert {"ticket_cost", "swarm_window", "llm_rate_limit", "fairness"} <= set(MODULES)


def _bench(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        check=False,
    )


def test_help_lists_the_benchmarks_and_runs_none() -> None:
    shown = _bench("--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: python -m bench [NAME [OPTIONS]]")
    assert "==" not in shown.stdout  # no benchmark started
    listed = {line.strip() for line in shown.stdout.splitlines() if line.startswith("  ")}
    # Each a module here (the rest of MODULES are their helpers), the README's fourteen.
    assert listed <= set(MODULES) and len(listed) == 14
    assert {"ticket_cost", "swarm_window", "adaptive_limit", "fairness"} <= listed


def test_options_without_a_name_are_refused_not_dropped() -> None:
    refused = _bench("--rounds", "2")
    assert refused.returncode == 2
    assert "error: --rounds needs a benchmark name before it" in refused.stderr
    assert refused.stdout == ""


def test_a_benchmark_prints_its_conditions_before_and_the_load_after(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = importlib.import_module("bench.runner")

    class FakeBenchmark:  # a benchmark that prints one figure
        @staticmethod
        def main(argv: list[str]) -> int:
            print("the figure")
            return 0

    # Only the name bench/runner.py imports by: the real importlib stays as it is.
    fake_importlib = SimpleNamespace(import_module=lambda name: FakeBenchmark)
    monkeypatch.setattr(runner, "importlib", fake_importlib)

    assert runner.main(["ticket_cost"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "== ticket_cost"
    assert " cores, load average (1/5/15 min) " in lines[1]
    assert lines[2] == "the figure"
    assert lines[3].startswith("load average at the end (1/5/15 min) ")
