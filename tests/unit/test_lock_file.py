"""requirements.lock is what `make` installs: every dependency pyproject.toml declares must be
pinned there with hashes, or a fresh clone would not get what CI tested (`make lock` renews it)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {canonical(re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0]) for spec in specs}


def pinned() -> dict[str, list[str]]:
    """name -> the hashes of its one pinned version."""
    found: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==\S+", line):
            current = canonical(match.group(1))
            found[current] = []
        elif current and (hashed := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            found[current].append(hashed.group(1))
    return found


def test_every_declared_dependency_is_pinned_in_the_lock_file_with_hashes() -> None:
    locked = pinned()
    missing = sorted(declared() - set(locked))
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    assert all(locked.values()), "every pinned package carries at least one hash"
