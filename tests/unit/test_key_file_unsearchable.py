"""A data directory this process may not search (its mode, another user's volume) is a
configuration error naming the key file, as every other key problem is: ``Path.is_file`` raises
PermissionError for EACCES, and the worker, the CLI and the codec server stopped with a traceback.
(The tests run as root, whom no mode stops: the error is raised by a fake ``is_file``.)"""

from pathlib import Path

import pytest

from shared.encryption.keyring import load_key_ring
from shared.settings import ConfigError


def test_a_data_directory_that_cannot_be_searched_is_a_config_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)

    with pytest.raises(ConfigError, match=r"cannot look for the key file .*: Permission denied"):
        load_key_ring({"TICKETS_DATA_DIR": str(tmp_path)})
