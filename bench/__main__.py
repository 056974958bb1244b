"""python -m bench [NAME] [ARGS]: run one benchmark, or all with no name (bench/runner.py)."""

from shared.project_python import require_project_python

require_project_python("bench")

from shared.otel_env import require_usable_otel_env

require_usable_otel_env("bench")

import sys

from bench.runner import main
from shared.temporal_client import exit_process

exit_process(main(sys.argv[1:]))
