"""The key ring: named AES-256 keys, one of them current.

New payloads are encrypted with the current key; any key in the ring decrypts. Rotating is adding
a key and making it current; an old key is retired (removed) only once no history or stored
payload still needs it: after the namespace's retention period plus the longest a ticket stays
open (docs/privacy.md).

Where keys come from, first match wins:
  TICKETS_ENCRYPTION_KEYS      the key ring as JSON (below), for clusters and secret managers
  TICKETS_ENCRYPTION_KEY_FILE  a file holding that JSON
  <data dir>/encryption-keys.json
                               the file ``make run`` creates on its first run (owner-only, 0600)
None of them: payloads are not encrypted (the worker says so when it starts).

The JSON: {"current": "k2", "keys": {"k1": "<base64 of 32 bytes>", "k2": "<base64 ...>"}}

Key material never appears in an error, a log line or a repr: messages name key ids only.
"""

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from shared.bounded_read import TooLarge, read_text_at_most
from shared.private_files import PRIVATE_FILE_MODE, private_dir, sync_dir
from shared.settings import ConfigError, data_dir
from shared.validation import NameGivenTwice, once_each

KEYS_VARIABLE: Final = "TICKETS_ENCRYPTION_KEYS"
KEY_FILE_VARIABLE: Final = "TICKETS_ENCRYPTION_KEY_FILE"
KEY_FILE_NAME: Final = "encryption-keys.json"
KEY_BYTES: Final = 32  # AES-256
# Key ids travel in every encrypted payload's metadata: short, printable, no secrets.
MAX_KEY_ID_CHARS: Final = 64
# A key file bigger than this is not a key ring (and is not read into memory whole).
MAX_KEY_FILE_BYTES: Final = 64 * 1024


def _valid_key_id(key_id: object) -> bool:
    return (
        isinstance(key_id, str)
        and 0 < len(key_id) <= MAX_KEY_ID_CHARS
        and all((c.isascii() and c.isalnum()) or c in "-_." for c in key_id)
    )


# A key id longer than this is not printed in an error: a 32-byte key written as hex (64
# characters) or as base64 without its padding (43, letters and digits only about one time in
# four) passes as a key id, and a key pasted where its id belongs would be printed whole.
MAX_SHOWN_KEY_ID_CHARS: Final = 32


def _named(name: object, what: str = "a key id", quoted: bool = False) -> str:
    """``name`` (a key id or a field's name from the file) quoted in an error when it cannot be
    a key; otherwise only its length."""
    if _valid_key_id(name) and len(str(name)) <= MAX_SHOWN_KEY_ID_CHARS:
        return f'"{name}"' if quoted else str(name)
    return f"{what} of {len(str(name))} characters"


def _key(key_id: str) -> str:
    """A key as an error names it: by its id, or by its id's length when the id could be a key
    (the two swapped)."""
    if len(key_id) <= MAX_SHOWN_KEY_ID_CHARS:
        return f"key {key_id}"
    return f"the key whose id has {len(key_id)} characters (is a key written where its id goes?)"


@dataclass(frozen=True)
class KeyRing:
    current: str
    keys: Mapping[str, bytes] = field(repr=False)
    source: str = "(given)"  # where the ring came from, for messages (a variable or a path)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ConfigError(f"{self.source}: the current key {self.current!r} is not in keys")

    @property
    def key_ids(self) -> list[str]:
        return sorted(self.keys)

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` (not for encryption), derived from the current key: HMAC-SHA256
        of the purpose under it. Changes when the current key does."""
        return hmac.new(self.keys[self.current], purpose.encode(), hashlib.sha256).digest()

    def describe(self) -> str:
        """Safe to print: ids and where they came from, never key material."""
        others = [k for k in self.key_ids if k != self.current]
        older = f"; also decrypts with {', '.join(others)}" if others else ""
        return f"AES-256-GCM, current key {self.current} from {self.source}{older}"

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()},
            },
            indent=2,
        )


def parse_key_ring(text: str, source: str) -> KeyRing:
    """The ring from its JSON; a ConfigError naming ``source`` and the key id at fault (never
    the key) when it is not a usable ring."""
    try:
        raw = json.loads(text, object_pairs_hook=once_each)
    except NameGivenTwice as err:
        # A name is a key id or a field; anything else is not printed (it could be anything).
        named = _named(err.name, "a name", quoted=True)
        raise ConfigError(
            f"{source}: {named} is listed twice in one object; each key needs an id of its own "
            "(read as it is, the last one would silently replace the first)"
        ) from None
    except json.JSONDecodeError as err:
        # The decoder's message quotes no input, only a position.
        raise ConfigError(
            f"{source} is not valid JSON (line {err.lineno}, column {err.colno}); "
            'expected {"current": "k1", "keys": {"k1": "<base64 of 32 bytes>"}}'
        ) from None
    except RecursionError:
        # Nested deeper than the parser goes: no key ring is (and the error said nothing of it).
        raise ConfigError(
            f"{source} nests too deeply to be a key ring; "
            'expected {"current": "k1", "keys": {"k1": "<base64 of 32 bytes>"}}'
        ) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("keys"), dict) or not raw["keys"]:
        raise ConfigError(
            f'{source} must be a JSON object with "current" and a non-empty "keys" object'
        )
    unknown = sorted(set(raw) - {"current", "keys"})
    if unknown:
        # Named only when it could be a field's name: a key pasted one level too high is not
        # printed (it could be anything).
        said = [_named(u, "one", quoted=True) for u in unknown]
        raise ConfigError(
            f'{source} has unknown field(s): {", ".join(said)}; only "current" and "keys"'
        )
    keys: dict[str, bytes] = {}
    for key_id, encoded in raw["keys"].items():
        if not _valid_key_id(key_id):
            raise ConfigError(
                f"{source}: a key id must be 1-{MAX_KEY_ID_CHARS} ASCII letters, digits, '-', "
                f"'_' or '.' (got one of {len(str(key_id))} characters)"
            )
        if not isinstance(encoded, str):
            raise ConfigError(f"{source}: {_key(key_id)} must be a base64 string")
        try:
            material = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{source}: {_key(key_id)} is not valid base64") from None
        if len(material) != KEY_BYTES:
            raise ConfigError(
                f"{source}: {_key(key_id)} is {len(material)} bytes; AES-256 needs {KEY_BYTES}"
            )
        keys[key_id] = material
    current = raw.get("current")
    if not isinstance(current, str) or current not in keys:
        raise ConfigError(
            f'{source}: "current" must name one of the keys '
            f"({', '.join(_named(k) for k in sorted(keys))})"
        )
    return KeyRing(current=current, keys=keys, source=source)


log = logging.getLogger(__name__)


_warned: set[Path] = set()


def warn_if_shared(path: Path) -> None:
    """A key file its group or others can read holds every ticket's key for them: warned (as
    ssh warns), not refused, since a secret mounted by an orchestrator may be so by design
    (docs/privacy.md says how to mount one owner-only); once per file and process."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # reading it says why
    if mode & 0o044 and path not in _warned:
        _warned.add(path)
        log.warning(
            "the key file %s can be read by its group or others (mode %04o): anyone who can "
            "read it can decrypt every ticket; make it owner-only (chmod 600)",
            path,
            mode,
        )


def read_key_file(path: Path, source: str | None = None) -> KeyRing:
    source = source or str(path)
    warn_if_shared(path)
    try:
        text = read_text_at_most(path, MAX_KEY_FILE_BYTES)
    except TooLarge:
        raise ConfigError(
            f"{source} is larger than {MAX_KEY_FILE_BYTES:,} bytes: not a key ring"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot read the key file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source} is not UTF-8 text") from None
    return parse_key_ring(text, source)


def local_key_file(env: Mapping[str, str] | None = None) -> Path:
    return data_dir(env) / KEY_FILE_NAME


def load_key_ring(env: Mapping[str, str] | None = None) -> KeyRing | None:
    """The ring this process uses, or None when no key is configured anywhere."""
    env = os.environ if env is None else env
    if text := (env.get(KEYS_VARIABLE) or "").strip():
        return parse_key_ring(text, KEYS_VARIABLE)
    if path := (env.get(KEY_FILE_VARIABLE) or "").strip():
        return read_key_file(Path(path), f"{KEY_FILE_VARIABLE} ({path})")
    local = local_key_file(env)
    try:
        found = local.is_file()
    except OSError as err:  # a data directory this process may not search (EACCES)
        said = err.strerror or str(err)
        raise ConfigError(f"cannot look for the key file {local}: {said}") from None
    return read_key_file(local) if found else None


def keys_configured_elsewhere(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(
        (env.get(KEYS_VARIABLE) or "").strip() or (env.get(KEY_FILE_VARIABLE) or "").strip()
    )


def new_key_id() -> str:
    return f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def create_key_file(path: Path) -> KeyRing:
    """A new ring with one fresh random key, written owner-only (0600) and never overwritten:
    written whole to a temporary file first, then linked into place (FileExistsError when
    there already is one), so two processes starting at once cannot each write one, and the
    loser never reads a file the winner has created but not yet written."""
    key_id = new_key_id()
    ring = KeyRing(current=key_id, keys={key_id: secrets.token_bytes(KEY_BYTES)}, source=str(path))
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(ring.to_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(temporary, path)  # fails, changing nothing, when the file exists
    finally:
        os.unlink(temporary)
    # The new name on disk too: without it a power cut right after could leave no key file,
    # and the server's database (synchronous=full) with tickets encrypted under its key.
    sync_dir(path.parent)
    return ring


def ensure_local_key_file(env: Mapping[str, str] | None = None) -> Path | None:
    """For ``make run``: the data directory's key file, created when no keys are configured and
    none exists yet. Returns its path when this call created it (so the caller can say so)."""
    if keys_configured_elsewhere(env):
        return None
    path = local_key_file(env)
    if path.exists():
        return None
    try:
        create_key_file(path)
    except FileExistsError:  # another process created it a moment ago: use that one
        return None
    return path
