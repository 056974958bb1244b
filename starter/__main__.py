from shared.project_python import require_project_python

require_project_python("starter")

from shared.otel_env import require_usable_otel_env

require_usable_otel_env("starter")

from shared.temporal_client import exit_process
from starter.cli import main

exit_process(main())
