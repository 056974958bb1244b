"""`make test` runs the tests marked `solo` from the files its SOLO_FILES names (collecting the
whole suite a second time took most of that phase): a `solo` test in any other file would
never run, so every file that marks one must be named there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_with_a_solo_test_is_in_the_makefiles_solo_files() -> None:
    makefile = (ROOT / "Makefile").read_text()
    [named] = re.findall(r"^SOLO_FILES\s*:=\s*(.+)$", makefile, re.MULTILINE)
    listed = set(named.split())
    marking = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(r"pytest\.mark\.solo\b", path.read_text())
    }
    assert marking, "no test is marked solo: drop SOLO_FILES and the solo phase"
    assert marking == listed, f"marked solo: {sorted(marking)}; SOLO_FILES: {sorted(listed)}"
    assert "$(or $(TEST_ARGS),$(SOLO_FILES))" in makefile
