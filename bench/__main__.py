"""python -m bench [NAME] [ARGS]: run one benchmark, or all with no name."""

from shared.project_python import require_project_python

require_project_python("bench")

from shared.otel_env import require_usable_otel_env

require_usable_otel_env("bench")

import importlib
import sys

from bench.machine import print_header
from shared.temporal_client import exit_process

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
        # all thirteen ran.
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
    return code


exit_process(main(sys.argv[1:]))
