from shared.temporal_client import exit_process
from starter.cli import main

exit_process(main())
