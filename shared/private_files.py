"""Owner-only modes for what the project writes to its data directory: the key file, the
delivery ledger (every answer sent and its customer id, in plain text), stored payloads and the
embedded server's database. A directory this project creates is its owner's only; one that
exists keeps the mode its owner gave it."""

from typing import Final

PRIVATE_DIR_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
