"""Configuration files for tests of its loading."""

from pathlib import Path


def write_config(tmp_path: Path, text: str, name: str = "pipeline.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
