"""The earlier claim-check codec's files, which the file driver must never delete.

Before external storage, this project's codec wrote each large payload to
``payloads/<2 hex>/<sha256>`` (the serialized payload, named by its hash) with no owner record;
histories from then hold references to them, which ``LegacyClaimCheckDecoder`` still reads. The
file driver uses the same layout and the same names, so without encryption (equal payloads,
equal bytes) a new ticket with an old one's content stores "its" payload by recording an owner
for the old file, and erasing or collecting that ticket deleted the file an old history needs.

So before the driver first deletes anything (the first erasure or collection, under the
exclusive lock, with no store running), it takes an inventory: every payload file older than
the driver's first use is the old codec's. The driver writes a file only after it made its lock
file (``owners/.lock``, never written to, so its time is its creation's) and after stamping the
file's owner record; the first use is the earlier of the two, less ``CLOCK_SLACK``. A store of
bytes already on disk leaves the file as it was, so an old file a new ticket stored again is
still older than that. Those names are kept in ``owners/legacy-files.txt`` and the driver never
deletes them; an empty file says the inventory found none. The inventory reads each payload
file's name and time, not its contents, once per data directory.

Not "no owner record, or older than its first record": a file a new ticket stored, whose record
an earlier version's collection removed while another ticket's record of the same bytes stayed,
is older than every record left, and would have been kept from its last owner's erasure.
"""

import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from shared.private_files import durable_write
from shared.stores.payloads import is_content_key

INVENTORY_NAME: Final = "legacy-files.txt"
# A file's time may lag the clock that stamped its record by a tick of the kernel's coarse
# clock (milliseconds); a second covers it many times over. An old codec's file written within
# a second of the driver's first use, or after it (old and new workers side by side), is not
# counted: an upgrade rarely runs both, and never for long.
CLOCK_SLACK: Final = 1.0


def inventory_path(root: Path) -> Path:
    return root / "owners" / INVENTORY_NAME


def legacy_keys(root: Path, records: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The names of the old codec's files under ``root`` (the payload directory): read from the
    inventory, or taken now and written (call with the exclusive lock held; ``records`` are
    every owner file's records, read only when the inventory is taken)."""
    path = inventory_path(root)
    try:
        return frozenset(path.read_text("ascii").split())
    except FileNotFoundError:
        pass
    found = _take_inventory(root, records)
    path.parent.mkdir(parents=True, exist_ok=True)
    durable_write(path, "".join(f"{key}\n" for key in sorted(found)).encode("ascii"))
    return found


def _take_inventory(root: Path, records: Iterable[dict[str, Any]]) -> frozenset[str]:
    first_use = (root / "owners" / ".lock").stat().st_mtime
    for record in records:
        stamp = datetime.fromisoformat(record["stored_at"])
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        first_use = min(first_use, stamp.timestamp())
    found = set()
    for folder in root.iterdir():
        if len(folder.name) != 2 or not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                key = entry.name
                if not (is_content_key(key) and key.startswith(folder.name)):
                    continue  # a temporary file of a write in progress, or not ours
                if entry.stat().st_mtime < first_use - CLOCK_SLACK:
                    found.add(key)
    return frozenset(found)
