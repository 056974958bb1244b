"""Finding the line that sets a key in a TOML file, for configuration errors."""

import tomllib

from shared.toml_lines import key_lines, line_of

CONFIG = '''\
# a comment = not a key
max_revision_rounds = 4

[review]
min_confidence = 0.75
notes = """
fake = "a line inside a multi-line string"
"""
review_urgent = false

[providers.openai]
timeout_seconds = 30
limits = { requests_per_minute = 60, tokens_per_minute = 1 }

["quoted table".inner]
"quoted key" = 1
a.b . c = 2

[[runs]]
name = "first"
'''


def test_each_key_is_found_at_the_line_that_sets_it() -> None:
    tomllib.loads(CONFIG)  # the locator reads only text tomllib has read
    lines = key_lines(CONFIG)

    assert lines[("max_revision_rounds",)] == 2
    assert lines[("review",)] == 4
    assert lines[("review", "min_confidence")] == 5
    assert lines[("review", "notes")] == 6
    assert lines[("review", "review_urgent")] == 9
    assert lines[("providers", "openai", "timeout_seconds")] == 12
    assert lines[("quoted table", "inner", "quoted key")] == 16
    assert lines[("quoted table", "inner", "a", "b", "c")] == 17
    assert lines[("runs", "name")] == 20
    # Neither the comment nor the multi-line string's content is a key.
    assert ("a comment",) not in lines and ("review", "fake") not in lines


def test_a_field_the_file_does_not_name_is_found_at_the_key_that_holds_it() -> None:
    lines = key_lines(CONFIG)

    # Inside an inline table, a list element: the line of the key they are the value of.
    assert line_of(lines, ("providers", "openai", "limits", "requests_per_minute")) == 13
    assert line_of(lines, ("review", "notes", 0)) == 6
    # A table the file names, but not the key: the table's header.
    assert line_of(lines, ("review", "final_deadline_hours")) == 4
    # Nothing of it in the file (a default's problem): no line.
    assert line_of(lines, ("budget", "max_tokens")) is None


TRICKY = '''\
[agents]
resolver = [  # fallbacks after the first; """ in a comment opens no string
  "openai:gpt-4o",
  ["not", "a header"],
]
triage = ["offline:rules"]  # [not.a.header]

["x"]
y = "a # not a comment"
z = 1
'''


def test_a_comment_or_an_array_across_lines_does_not_lose_the_keys_after_it() -> None:
    tomllib.loads(TRICKY)
    lines = key_lines(TRICKY)

    assert lines[("agents", "resolver")] == 2
    assert lines[("agents", "triage")] == 6
    assert ("not", "a header") not in lines and ("agents", "not") not in lines
    assert (lines[("x",)], lines[("x", "y")], lines[("x", "z")]) == (8, 9, 10)
