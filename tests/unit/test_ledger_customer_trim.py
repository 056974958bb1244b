"""The ledgers trim a row's customer id by the characters Python's str.strip() removes (erase
strips the id it is given, and a ticket's, that way)."""

import sys

from shared.stores.ledger import STRIPPED


def test_the_trimmed_set_is_every_character_python_strips() -> None:
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    assert everything == STRIPPED
    assert (STRIPPED + "C-1" + STRIPPED).strip() == "C-1"
