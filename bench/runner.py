"""The benchmarks by name, and running one or all of them (``python -m bench``: __main__.py)."""

import importlib
import sys

from bench.machine import print_footer, print_header

BENCHMARKS = [
    "offline_accuracy",
    "label_ceiling",
    "pipeline_throughput",
    "llm_rate_limit",
    "adaptive_limit",
    "swarm_window",
    "provider_cpu",
    "batch_throughput",
    "tracing_overhead",
    "ticket_cost",
    "journal_modes",
    "fairness",
    "review_queue",
    "converter_copies",
]


USAGE = "usage: python -m bench [NAME [OPTIONS]]   (python -m bench NAME --help for its options)"


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(f"{USAGE}\n\nWith no name, all of them run, one after another (over half an hour):")
        print("\n".join(f"  {name}" for name in BENCHMARKS))
        return 0
    if argv and argv[0].startswith("-"):
        # Options go to one benchmark; run with no name they used to be dropped silently and
        # all of them ran.
        print(f"{USAGE}\nerror: {argv[0]} needs a benchmark name before it", file=sys.stderr)
        return 2
    names = [argv[0]] if argv else BENCHMARKS
    rest = argv[1:]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    code = 0
    for name in names:
        print(f"== {name}", flush=True)
        print_header()  # the commit, the cores and the load: no figure without its conditions
        code |= importlib.import_module(f"bench.{name}").main(rest)
        print_footer()  # the load again: what else ran meanwhile shows against the start's
    return code
