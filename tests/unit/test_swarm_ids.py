"""A swarm's id and input digest, derived from its items: the same items give the same id (a
rerun shows the earlier result), different items never do."""

import hashlib

from shared.swarm import SwarmItem
from starter.fanout_runs import swarm_input


def item(item_id: str, text: str) -> SwarmItem:
    return SwarmItem(item_id=item_id, text=text)


def test_one_item_whose_text_holds_the_separators_is_not_two_items() -> None:
    # One item "a" whose text holds the characters that joined ids to texts and items to items
    # read as the items "a" and "b": the same id, and the second file was never analysed.
    one = [item("a", "x\x1fb\x1ey")]
    two = [item("a", "x"), item("b", "y")]
    assert swarm_input(one, None) != swarm_input(two, None)
    assert swarm_input(one, None)[0] != swarm_input(two, None)[0]


def test_an_id_holding_a_separator_is_told_apart_too() -> None:
    assert swarm_input([item("a\x1ex", "y")], None) != swarm_input([item("a", "x\x1ey")], None)


def test_a_file_without_the_separators_keeps_the_id_it_had() -> None:
    # The first form, so a file run before this change finds its earlier run under its id.
    items = [item("r1", "works well"), item("r2", "broke in a week")]
    joined = "\x1f".join(["r1\x1eworks well", "r2\x1ebroke in a week"])
    digest = hashlib.sha256(joined.encode()).hexdigest()
    assert swarm_input(items, None) == (f"swarm-{digest[:12]}", digest)


def test_the_same_items_give_the_same_id_and_a_given_id_is_kept() -> None:
    items = [item("a", "x\x1fb\x1ey")]
    assert swarm_input(items, None) == swarm_input(list(items), None)
    assert swarm_input(items, "my-run")[0] == "my-run"
